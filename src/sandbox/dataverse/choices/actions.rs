//! The unbound actions that change a choice column's options: `InsertOptionValue` (answers
//! the value it gave the option), `UpdateOptionValue` and `DeleteOptionValue` (answer 204).
//! Their JSON parameters are checked as the service checks an action's parameters: unknown
//! ones and wrong types are refused before anything is done.

use serde_json::{json, Map, Value as Json};

use super::{OptionAction, PREFIX};
use crate::sandbox::dataverse::{code, logical_name, store_error, Dv, NAMESPACE};
use crate::sandbox::request::{Req, Resp};
use crate::sandbox::store::{Choice, Db, LiveOption, Localized, StoreError};

/// Dataverse's code for a missing or invalid argument.
const INVALID_ARGUMENT: &str = "0x80040203";

impl OptionAction {
    /// The parameters the action takes; others are refused.
    fn parameters(self) -> &'static [&'static str] {
        const COMMON: [&str; 4] = [
            "EntityLogicalName",
            "AttributeLogicalName",
            "OptionSetName",
            "SolutionUniqueName",
        ];
        match self {
            OptionAction::Insert => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                "Value",
                "Label",
                "Description",
                "Color",
                "ExternalValue",
                "IsHidden",
                "ParentValues",
            ],
            OptionAction::Update => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                "Value",
                "Label",
                "Description",
                "MergeLabels",
                "Color",
                "ExternalValue",
                "ParentValues",
            ],
            OptionAction::Delete => &[COMMON[0], COMMON[1], COMMON[2], COMMON[3], "Value"],
        }
    }
}

/// An action's parameters, read from its JSON body.
struct Params {
    action: OptionAction,
    obj: Map<String, Json>,
}

fn invalid(message: &str) -> Resp {
    Resp::error(400, INVALID_ARGUMENT, message)
}

fn payload(message: &str) -> Resp {
    Resp::error(400, code::PAYLOAD, message)
}

impl Params {
    fn of(req: &Req, action: OptionAction) -> Result<Params, Resp> {
        let name = action.name();
        let json: Json = serde_json::from_slice(&req.body)
            .map_err(|e| payload(&format!("The body of {name} is not valid JSON: {e}")))?;
        let Json::Object(obj) = json else {
            return Err(payload(&format!(
                "The body of {name} must be a JSON object of its parameters."
            )));
        };
        let known = action.parameters();
        if let Some(p) = obj
            .keys()
            .find(|k| !k.starts_with('@') && !known.contains(&k.as_str()))
        {
            return Err(payload(&format!(
                "The parameter '{p}' in the request payload is not a valid parameter for the operation '{name}'."
            )));
        }
        Ok(Params { action, obj })
    }

    /// A parameter, `None` when absent or null.
    fn get(&self, name: &str) -> Option<&Json> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn text(&self, name: &str) -> Result<Option<&str>, Resp> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(v) => Err(payload(&format!(
                "Cannot convert the literal '{v}' to the expected type 'Edm.String' of '{name}'."
            ))),
        }
    }

    /// An `Edm.Int32` parameter.
    fn int(&self, name: &str) -> Result<Option<i64>, Resp> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|i| i32::try_from(*i).is_ok())
                .map(Some)
                .ok_or_else(|| {
                    payload(&format!(
                        "Cannot convert the literal '{v}' to the expected type 'Edm.Int32' of '{name}'."
                    ))
                }),
        }
    }

    fn required_int(&self, name: &str) -> Result<i64, Resp> {
        self.int(name)?.ok_or_else(|| {
            invalid(&format!(
                "{} needs the parameter '{name}'.",
                self.action.name()
            ))
        })
    }

    /// A `Label` parameter's texts; blank ones are left out, as if not given.
    fn label(&self, name: &str) -> Result<Option<Vec<Localized>>, Resp> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let bad = || {
            payload(&format!(
                "'{name}' must be a Label: {{\"LocalizedLabels\": [{{\"Label\": \"…\", \"LanguageCode\": 1033}}]}}."
            ))
        };
        let list = match v.get("LocalizedLabels") {
            None | Some(Json::Null) => return Ok(Some(Vec::new())),
            Some(Json::Array(list)) => list,
            Some(_) => return Err(bad()),
        };
        let mut out = Vec::new();
        for l in list {
            let text = l.get("Label").and_then(Json::as_str).ok_or_else(bad)?;
            let language = l
                .get("LanguageCode")
                .and_then(Json::as_i64)
                .filter(|c| *c > 0)
                .ok_or_else(bad)?;
            if !text.trim().is_empty() {
                out.retain(|o: &Localized| o.language != language);
                out.push(Localized {
                    language,
                    text: text.to_string(),
                });
            }
        }
        Ok(Some(out))
    }
}

/// `old` with `new`'s texts: those of languages `new` leaves out are kept when `merge` says
/// so (`MergeLabels`), else dropped.
fn merged(old: &[Localized], new: Vec<Localized>, merge: bool) -> Vec<Localized> {
    let mut out: Vec<Localized> = if merge {
        old.iter()
            .filter(|o| !new.iter().any(|n| n.language == o.language))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    out.extend(new);
    out
}

fn no_such_option(choice: Choice<'_>, value: i64) -> Resp {
    Resp::error(
        404,
        code::NOT_FOUND,
        &format!(
            "The option value {value} does not exist for attribute '{}' of entity '{}'.",
            choice.attribute, choice.entity
        ),
    )
}

impl Dv {
    /// Runs an action on options, inside the request's transaction.
    pub(super) fn option_action(&self, db: &mut Db, req: &Req, action: OptionAction) -> Resp {
        let done = Params::of(req, action).and_then(|p| {
            let (table, column) = self.action_choice(&p)?;
            let choice = Choice {
                entity: logical_name(table),
                attribute: &column.name,
            };
            match action {
                OptionAction::Insert => insert(db, req, choice, &p),
                OptionAction::Update => update(db, choice, &p),
                OptionAction::Delete => delete(db, choice, &p),
            }
        });
        done.unwrap_or_else(|r| r)
    }

    /// The choice column an action's parameters name.
    fn action_choice(
        &self,
        p: &Params,
    ) -> Result<(&crate::schema::TableSchema, &crate::schema::ColumnSchema), Resp> {
        if let Some(set) = p.text("OptionSetName")? {
            return Err(Resp::error(
                501,
                code::QUERY,
                &format!("The sandbox has no global option sets ('{set}'); name a choice column with EntityLogicalName and AttributeLogicalName."),
            ));
        }
        let (Some(entity), Some(attribute)) = (
            p.text("EntityLogicalName")?,
            p.text("AttributeLogicalName")?,
        ) else {
            return Err(invalid(&format!(
                "{} needs EntityLogicalName and AttributeLogicalName (or the OptionSetName of a global option set).",
                p.action.name()
            )));
        };
        self.choice_column(entity, attribute)
    }
}

/// `InsertOptionValue`: adds an option with the given value, or the next free custom one.
/// Labels need not be unique, as on the service.
fn insert(db: &mut Db, req: &Req, choice: Choice<'_>, p: &Params) -> Result<Resp, Resp> {
    let labels = p.label("Label")?.unwrap_or_default();
    if labels.is_empty() {
        return Err(invalid(
            "InsertOptionValue needs a Label with a text in at least one language.",
        ));
    }
    let descriptions = p.label("Description")?.unwrap_or_default();
    let value = match p.int("Value")? {
        Some(v) => v,
        None => db.next_option_value(choice).map_err(store_error)?,
    };
    if i32::try_from(value).is_err() {
        return Err(invalid(&format!(
            "The attribute '{}' of entity '{}' has no option value left to give.",
            choice.attribute, choice.entity
        )));
    }
    let option = LiveOption {
        value,
        labels,
        descriptions,
    };
    match db.insert_option(choice, &option) {
        Ok(()) => {}
        Err(StoreError::Duplicate) => {
            return Err(Resp::error(
                400,
                code::DUPLICATE,
                &format!(
                "An option with value {value} already exists for attribute '{}' of entity '{}'.",
                choice.attribute, choice.entity
            ),
            ))
        }
        Err(e) => return Err(store_error(e)),
    }
    Ok(Resp::json(
        200,
        &json!({
            "@odata.context": format!("{}{PREFIX}/$metadata#{NAMESPACE}.InsertOptionValueResponse", req.origin),
            "NewOptionValue": value,
        }),
    ))
}

/// `UpdateOptionValue`: relabels an option; `MergeLabels` keeps the texts of languages the
/// new label leaves out. A description left out stays as it was.
fn update(db: &mut Db, choice: Choice<'_>, p: &Params) -> Result<Resp, Resp> {
    let value = p.required_int("Value")?;
    let merge = match p.get("MergeLabels") {
        Some(Json::Bool(b)) => *b,
        Some(v) => {
            return Err(payload(&format!(
            "Cannot convert the literal '{v}' to the expected type 'Edm.Boolean' of 'MergeLabels'."
        )))
        }
        None => {
            return Err(invalid(
                "UpdateOptionValue needs the parameter 'MergeLabels'.",
            ))
        }
    };
    let old = db
        .option(choice, value)
        .map_err(store_error)?
        .ok_or_else(|| no_such_option(choice, value))?;
    let labels = match p.label("Label")? {
        Some(new) => merged(&old.labels, new, merge),
        None => old.labels.clone(),
    };
    if labels.is_empty() {
        return Err(invalid(&format!(
            "The option value {value} would be left without a label."
        )));
    }
    let descriptions = match p.label("Description")? {
        Some(new) => merged(&old.descriptions, new, merge),
        None => old.descriptions.clone(),
    };
    let option = LiveOption {
        value,
        labels,
        descriptions,
    };
    db.update_option(choice, &option).map_err(store_error)?;
    Ok(Resp::empty(204))
}

/// `DeleteOptionValue`: removes an option; writing its value is refused from then on. The
/// sandbox leaves rows that hold the value as they are.
fn delete(db: &mut Db, choice: Choice<'_>, p: &Params) -> Result<Resp, Resp> {
    let value = p.required_int("Value")?;
    if db.delete_option(choice, value).map_err(store_error)? {
        Ok(Resp::empty(204))
    } else {
        Err(no_such_option(choice, value))
    }
}
