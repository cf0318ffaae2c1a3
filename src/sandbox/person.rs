//! A person at the keyboard of the sandboxed systems: reads and changes records through the
//! services' own APIs, as someone using Business Central or a Dataverse app would. The demo,
//! the tests and the benchmarks use it to change data between sync runs. Dataverse changes are
//! made in the name of an ordinary user (`MSCRMCallerID` impersonation), so the sync does not
//! take them for its own.

use serde_json::Value as Json;

use super::Sandbox;

/// Which of the two services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Business Central (tables of the seeded company).
    BusinessCentral,
    /// Dataverse.
    Dataverse,
}

/// A client of both sandboxed services.
pub struct Person<'a> {
    sandbox: &'a Sandbox,
    secret: String,
    http: reqwest::Client,
    /// The Business Central company worked in; the seeded one when `None`.
    company: Option<String>,
}

impl<'a> Person<'a> {
    /// A person who signs in with the sandbox's client secret.
    pub fn new(sandbox: &'a Sandbox, secret: &str) -> Person<'a> {
        Person {
            sandbox,
            secret: secret.to_string(),
            // Redirects off, as every client of syncmap's; building fails only where
            // `Client::new` would panic (no TLS backend), so the default is never a weaker one.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            company: None,
        }
    }

    /// The same person, working in another Business Central company (by name).
    pub fn in_company(mut self, name: &str) -> Person<'a> {
        self.company = Some(name.to_string());
        self
    }

    async fn token(&self, service: Service) -> Result<String, String> {
        let url = match service {
            Service::BusinessCentral => self.sandbox.bc_token_url(),
            Service::Dataverse => self.sandbox.dv_token_url(),
        };
        let auth = self.sandbox.auth();
        let r: Json = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", auth.client_id.as_str()),
                ("client_secret", self.secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        r["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no token: {r}"))
    }

    async fn get_json(&self, url: &str, token: &str) -> Result<Json, String> {
        self.http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }

    /// The URL tables of a service hang under.
    async fn root(&self, service: Service, token: &str) -> Result<String, String> {
        match service {
            Service::Dataverse => Ok(self.sandbox.dv_url()),
            Service::BusinessCentral => {
                let companies = self
                    .get_json(&format!("{}/companies", self.sandbox.bc_url()), token)
                    .await?;
                let name = self
                    .company
                    .as_deref()
                    .unwrap_or(self.sandbox.company_name());
                let id = companies["value"]
                    .as_array()
                    .and_then(|v| v.iter().find(|c| c["name"] == name))
                    .and_then(|c| c["id"].as_str())
                    .ok_or("the sandbox has no such company")?;
                Ok(format!("{}/companies({id})", self.sandbox.bc_url()))
            }
        }
    }

    async fn send(
        &self,
        service: Service,
        method: reqwest::Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Json, String> {
        let token = self.token(service).await?;
        let url = format!("{}/{path}", self.root(service, &token).await?);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .header("Prefer", "return=representation");
        if method != reqwest::Method::POST && method != reqwest::Method::GET {
            req = req.header("If-Match", "*");
        }
        if service == Service::Dataverse {
            req = req.header("MSCRMCallerID", self.sandbox.person_user_id());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status();
        let text = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    /// The options of a Dataverse choice column, `(value, label)` in value order, read from
    /// the column's metadata as any Web API client reads them.
    pub async fn options(&self, entity: &str, column: &str) -> Result<Vec<(i64, String)>, String> {
        let token = self.token(Service::Dataverse).await?;
        let url = format!(
            "{}/EntityDefinitions(LogicalName='{entity}')/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)",
            self.sandbox.dv_url()
        );
        let doc = self.get_json(&url, &token).await?;
        let options = doc["OptionSet"]["Options"]
            .as_array()
            .ok_or_else(|| format!("no options in {doc}"))?;
        options
            .iter()
            .map(|o| {
                let value = o["Value"].as_i64();
                let label = o["Label"]["UserLocalizedLabel"]["Label"].as_str();
                match (value, label) {
                    (Some(v), Some(l)) => Ok((v, l.to_string())),
                    _ => Err(format!("an option without value or label: {o}")),
                }
            })
            .collect()
    }

    /// Every row of a table.
    pub async fn rows(&self, service: Service, table: &str) -> Result<Vec<Json>, String> {
        let token = self.token(service).await?;
        let mut url = format!("{}/{table}", self.root(service, &token).await?);
        let mut out = Vec::new();
        loop {
            let page = self.get_json(&url, &token).await?;
            let rows = page["value"]
                .as_array()
                .ok_or_else(|| format!("GET {table}: {page}"))?;
            out.extend(rows.iter().cloned());
            match page["@odata.nextLink"].as_str() {
                // A next link may be relative to the page's URL (`relative_links`).
                Some(n) => {
                    url = reqwest::Url::parse(&url)
                        .and_then(|base| base.join(n))
                        .map_err(|e| format!("next link `{n}`: {e}"))?
                        .to_string()
                }
                None => return Ok(out),
            }
        }
    }

    /// Changes some fields of a row.
    pub async fn patch(
        &self,
        service: Service,
        table: &str,
        key: &str,
        body: Json,
    ) -> Result<(), String> {
        self.send(
            service,
            reqwest::Method::PATCH,
            &format!("{table}({key})"),
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// Creates a row; the row as the service stored it.
    pub async fn create(&self, service: Service, table: &str, body: Json) -> Result<Json, String> {
        self.send(service, reqwest::Method::POST, table, Some(&body))
            .await
    }

    /// Deletes a row.
    pub async fn delete(&self, service: Service, table: &str, key: &str) -> Result<(), String> {
        self.send(
            service,
            reqwest::Method::DELETE,
            &format!("{table}({key})"),
            None,
        )
        .await
        .map(drop)
    }
}
