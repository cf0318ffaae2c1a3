//! Escaping of text put into the page. Every name, filter literal, key and message in the report
//! comes from mappings or systems someone else controls, so all of it goes through [`html`]
//! before it reaches markup: a table called `<script>` must show as text, not run.

/// Text made safe for HTML and SVG element content and for quoted attribute values: `&`, `<`,
/// `>`, `"` and `'` become character references; everything else is kept.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in HTML or XML
            // text; a key or message holding one is shown with a replacement instead.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html;

    #[test]
    fn markup_characters_become_references() {
        assert_eq!(
            html(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn an_attribute_value_cannot_be_closed() {
        let name = r#"a" onmouseover="x"#;
        let attr = format!(r#"<g data-mapping="{}">"#, html(name));
        assert_eq!(attr.matches('"').count(), 2);
        assert!(!attr.contains("onmouseover=\""));
    }

    #[test]
    fn plain_text_and_existing_references_are_kept_readable() {
        assert_eq!(html("Contoso Ltd. — €5,000"), "Contoso Ltd. — €5,000");
        // An entity in the input is text, not markup: it is escaped again, shown as written.
        assert_eq!(html("&amp;"), "&amp;amp;");
        assert_eq!(html("a\u{0}b\nc"), "a\u{FFFD}b\nc");
    }
}
