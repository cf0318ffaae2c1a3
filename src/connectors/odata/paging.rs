//! Following `@odata.nextLink`: where the next page is, and whether it may be asked for.
//!
//! A next link may be relative (OData JSON Format §4.6 "Relative URLs": a URL in a payload is
//! relative to the payload's context URL), so it is resolved before it is followed: against
//! the page's `@odata.context` when that is an absolute URL, else against the request URL. (A
//! relative context URL is itself relative to the request, and services that send one put
//! `$metadata` beside the entity set, so the request URL is the same base for them.) Whatever its form, it is followed only inside the
//! service root the profile names: the request carries the bearer token, which must reach
//! no other origin, and a link elsewhere in the same origin is not a page of this service.
//! Nothing here reads the link's query: `$skiptoken`, `$skip` or anything else is the
//! service's business, and a page may hold any number of rows.

use reqwest::Url;

use super::failure::without_query;

/// Why a next link is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a URL, even relative to the page it came with.
    #[error("the service's next-page link `{link}` is not a URL")]
    Invalid {
        /// The link, without its query.
        link: String,
    },
    /// Another scheme, host or port than the service's.
    #[error("the service's next-page link points to {link_origin}, not to the service at {service_origin}: not followed (the request would carry the credentials there)")]
    OtherOrigin {
        /// `scheme://host:port` of the link.
        link_origin: String,
        /// `scheme://host:port` of the service.
        service_origin: String,
    },
    /// The service's origin, outside its root path.
    #[error(
        "the service's next-page link `{link}` is outside the service root `{root}`: not followed"
    )]
    OutsideRoot {
        /// The link, without its query.
        link: String,
        /// The service root.
        root: String,
    },
}

/// The absolute URL of the next page: `link` resolved against the page's context URL
/// (`context`) when it is absolute, else against the request URL; refused unless it lies inside `root` (the service root, no trailing `/`).
pub fn next_page(
    root: &str,
    request: &str,
    context: Option<&str>,
    link: &str,
) -> Result<String, LinkError> {
    let invalid = || LinkError::Invalid {
        link: without_query(link).to_string(),
    };
    let request = Url::parse(request).map_err(|_| invalid())?;
    let base = context.and_then(|c| Url::parse(c).ok()).unwrap_or(request);
    let next = base.join(link).map_err(|_| invalid())?;
    let root_url = Url::parse(root).map_err(|_| invalid())?;
    let (link_origin, service_origin) = (origin(&next), origin(&root_url));
    if link_origin != service_origin {
        return Err(LinkError::OtherOrigin {
            link_origin,
            service_origin,
        });
    }
    let root_path = root_url.path().trim_end_matches('/');
    let inside = next
        .path()
        .strip_prefix(root_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !inside {
        return Err(LinkError::OutsideRoot {
            link: without_query(next.as_str()).to_string(),
            root: root.to_string(),
        });
    }
    Ok(next.to_string())
}

/// Whether a next link pages by offset: its query has `$skip` (and no `$skiptoken`).
pub fn by_offset(link: &str) -> bool {
    let Ok(url) = Url::parse(link) else {
        return false;
    };
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.iter().any(|k| k == "$skip") && !names.iter().any(|k| k == "$skiptoken")
}

/// `scheme://host:port`, the port always written (so `https://h` and `https://h:443` agree).
fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ROOT: &str = "https://svc.example/odata/v4";
    const REQUEST: &str = "https://svc.example/odata/v4/Accounts?$select=a,b&$orderby=id%20asc";

    #[test]
    fn relative_links_resolve_against_the_request() {
        let next = next_page(ROOT, REQUEST, None, "Accounts?$skiptoken=1000").unwrap();
        assert_eq!(
            next,
            "https://svc.example/odata/v4/Accounts?$skiptoken=1000"
        );
        let rooted = next_page(ROOT, REQUEST, None, "/odata/v4/Accounts?$skip=5").unwrap();
        assert_eq!(rooted, "https://svc.example/odata/v4/Accounts?$skip=5");
        let absolute = next_page(ROOT, REQUEST, None, &format!("{ROOT}/Accounts?$skip=5")).unwrap();
        assert_eq!(absolute, rooted);
    }

    #[test]
    fn relative_links_resolve_against_the_context_url_when_there_is_one() {
        // Against the request URL the link would name `companies(1)/companies(1)/items`.
        let next = next_page(
            ROOT,
            "https://svc.example/odata/v4/companies(1)/items?$top=5",
            Some("https://svc.example/odata/v4/$metadata#companies(1)/items"),
            "companies(1)/items?$skiptoken=x",
        )
        .unwrap();
        assert_eq!(
            next,
            "https://svc.example/odata/v4/companies(1)/items?$skiptoken=x"
        );
    }

    #[test]
    fn links_to_another_origin_name_both_origins() {
        for (link, other) in [
            (
                "https://evil.example/odata/v4/Accounts?$skiptoken=1",
                "https://evil.example:443",
            ),
            (
                "http://svc.example/odata/v4/Accounts",
                "http://svc.example:80",
            ),
            (
                "https://svc.example:8443/odata/v4/Accounts",
                "https://svc.example:8443",
            ),
            (
                "//evil.example/odata/v4/Accounts",
                "https://evil.example:443",
            ),
        ] {
            let e = next_page(ROOT, REQUEST, None, link).unwrap_err();
            assert_eq!(
                e,
                LinkError::OtherOrigin {
                    link_origin: other.into(),
                    service_origin: "https://svc.example:443".into()
                },
                "{link}"
            );
            let text = e.to_string();
            assert!(
                text.contains(other) && text.contains("https://svc.example:443"),
                "{text}"
            );
        }
    }

    #[test]
    fn offset_links_are_told_from_keyset_links() {
        assert!(by_offset("https://h/s/a?$filter=x&$skip=1000"));
        assert!(by_offset("https://h/s/a?%24skip=5"));
        assert!(!by_offset("https://h/s/a?$skiptoken=abc"));
        assert!(!by_offset("https://h/s/a?$skiptoken=abc&$skip=5"));
        assert!(!by_offset("https://h/s/a?name=$skip"));
    }

    #[test]
    fn links_outside_the_service_root_are_refused() {
        for link in [
            "../other/Accounts",
            "/odata/v4x/Accounts",
            "/elsewhere?$skip=1",
        ] {
            let e = next_page(ROOT, REQUEST, None, link).unwrap_err();
            assert!(matches!(e, LinkError::OutsideRoot { .. }), "{link}: {e:?}");
            assert!(!e.to_string().contains("$skip"), "{e}");
        }
    }
}
