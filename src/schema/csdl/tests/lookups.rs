//! Lookups: Dataverse `_x_value` properties and foreign keys behind navigation properties.

use super::*;

/// A Dataverse-shaped document: lookups, a polymorphic lookup and an abstract owner type.
fn dataverse_like() -> String {
    edmx(
        r#"
  <EntityType Name="crmbaseentity" Abstract="true" />
  <EntityType Name="principal" BaseType="t.crmbaseentity" Abstract="true" />
  <EntityType Name="account" BaseType="t.crmbaseentity">
    <Key><PropertyRef Name="accountid" /></Key>
    <Property Name="accountid" Type="Edm.Guid" />
    <Property Name="_transactioncurrencyid_value" Type="Edm.Guid">
      <Annotation Term="Org.OData.Core.V1.Description" String="The currency." />
      <Annotation Term="Org.OData.Core.V1.Computed" Bool="true" />
    </Property>
    <Property Name="_ownerid_value" Type="Edm.Guid" />
    <Property Name="_modifiedby_value" Type="Edm.Guid" />
    <Property Name="_owningbusinessunit_value" Type="Edm.Guid" />
    <Property Name="modifiedon" Type="Edm.DateTimeOffset" />
    <NavigationProperty Name="transactioncurrencyid" Type="t.transactioncurrency">
      <ReferentialConstraint Property="_transactioncurrencyid_value"
        ReferencedProperty="transactioncurrencyid" />
    </NavigationProperty>
    <NavigationProperty Name="ownerid" Type="t.principal" />
    <NavigationProperty Name="modifiedby" Type="t.systemuser">
      <ReferentialConstraint Property="_modifiedby_value" ReferencedProperty="systemuserid" />
    </NavigationProperty>
    <NavigationProperty Name="owningbusinessunit" Type="t.businessunit">
      <ReferentialConstraint Property="_owningbusinessunit_value"
        ReferencedProperty="businessunitid" />
    </NavigationProperty>
    <NavigationProperty Name="contact_customer_accounts" Type="Collection(t.contact)" />
  </EntityType>
  <EntityType Name="contact" BaseType="t.crmbaseentity">
    <Key><PropertyRef Name="contactid" /></Key>
    <Property Name="contactid" Type="Edm.Guid" />
    <Property Name="_parentcustomerid_value" Type="Edm.Guid" />
    <NavigationProperty Name="parentcustomerid_account" Type="t.account">
      <ReferentialConstraint Property="_parentcustomerid_value"
        ReferencedProperty="accountid" />
    </NavigationProperty>
    <NavigationProperty Name="parentcustomerid_contact" Type="t.contact">
      <ReferentialConstraint Property="_parentcustomerid_value"
        ReferencedProperty="contactid" />
    </NavigationProperty>
  </EntityType>
  <EntityType Name="systemuser" BaseType="t.principal">
    <Key><PropertyRef Name="systemuserid" /></Key>
    <Property Name="systemuserid" Type="Edm.Guid" />
  </EntityType>
  <EntityType Name="team" BaseType="t.principal">
    <Key><PropertyRef Name="teamid" /></Key>
    <Property Name="teamid" Type="Edm.Guid" />
  </EntityType>
  <EntityType Name="businessunit" BaseType="t.crmbaseentity">
    <Key><PropertyRef Name="businessunitid" /></Key>
    <Property Name="businessunitid" Type="Edm.Guid" />
  </EntityType>
  <EntityType Name="transactioncurrency" BaseType="t.crmbaseentity">
    <Key><PropertyRef Name="transactioncurrencyid" /></Key>
    <Property Name="transactioncurrencyid" Type="Edm.Guid" />
  </EntityType>
  <EntityContainer Name="System">
    <EntitySet Name="accounts" EntityType="Test.Model.account" />
    <EntitySet Name="contacts" EntityType="Test.Model.contact" />
    <EntitySet Name="systemusers" EntityType="Test.Model.systemuser" />
    <EntitySet Name="teams" EntityType="Test.Model.team" />
    <EntitySet Name="transactioncurrencies" EntityType="Test.Model.transactioncurrency" />
  </EntityContainer>"#,
    )
}

#[test]
fn turns_dataverse_lookup_properties_into_lookups() {
    let schema = import_ok(&dataverse_like());
    let accounts = table(&schema, "accounts");
    assert_eq!(
        names(accounts),
        [
            "accountid",
            "transactioncurrencyid",
            "ownerid",
            "modifiedby",
            "_owningbusinessunit_value",
            "modifiedon"
        ]
    );
    let currency = column(accounts, "transactioncurrencyid");
    assert_eq!(
        currency.ty,
        ColumnType::Lookup {
            targets: strings(&["transactioncurrencies"])
        }
    );
    assert!(
        !currency.read_only,
        "a computed `_x_value` is still written through its lookup"
    );
    assert_eq!(currency.description.as_deref(), Some("The currency."));

    // No constraint: bound by name. The abstract owner type has no set; its subtypes do.
    assert_eq!(
        column(accounts, "ownerid").ty,
        ColumnType::Lookup {
            targets: strings(&["systemusers", "teams"])
        }
    );
    assert!(column(accounts, "modifiedby").read_only);
    // The business unit has no entity set here, so the raw property stays.
    assert_eq!(
        column(accounts, "_owningbusinessunit_value").ty,
        ColumnType::Guid
    );
    assert_eq!(accounts.entity_type.as_deref(), Some("account"));
    assert!(validate(&schema).is_ok());
}

#[test]
fn merges_polymorphic_lookup_targets() {
    let schema = import_ok(&dataverse_like());
    let contacts = table(&schema, "contacts");
    assert_eq!(names(contacts), ["contactid", "parentcustomerid"]);
    assert_eq!(
        column(contacts, "parentcustomerid").ty,
        ColumnType::Lookup {
            targets: strings(&["accounts", "contacts"])
        }
    );
}

#[test]
fn keeps_business_central_foreign_keys_as_they_are() {
    let xml = edmx(
        r#"
  <EntityType Name="customer">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" Nullable="false" />
    <Property Name="currencyId" Type="Edm.Guid" />
    <NavigationProperty Name="currency" Type="t.currency" ContainsTarget="true">
      <ReferentialConstraint Property="currencyId" ReferencedProperty="id" />
    </NavigationProperty>
    <NavigationProperty Name="picture" Type="t.currency" ContainsTarget="true">
      <ReferentialConstraint Property="id" ReferencedProperty="id" />
    </NavigationProperty>
  </EntityType>
  <EntityType Name="currency">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" Nullable="false" />
  </EntityType>
  <EntityContainer Name="NAV">
    <EntitySet Name="customers" EntityType="t.customer" />
    <EntitySet Name="currencies" EntityType="t.currency" />
  </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let customers = table(&schema, "customers");
    assert_eq!(names(customers), ["id", "currencyId"]);
    assert_eq!(column(customers, "currencyId").ty, ColumnType::Guid);
}

/// Orders with foreign keys of every kind the import tells apart.
fn foreign_keys() -> String {
    edmx(
        r#"
      <EntityType Name="customer">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Guid" Nullable="false" />
        <Property Name="code" Type="Edm.String" />
      </EntityType>
      <EntityType Name="product">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Guid" Nullable="false" />
      </EntityType>
      <EntityType Name="branch">
        <Key><PropertyRef Name="no" /></Key>
        <Property Name="no" Type="Edm.Int32" Nullable="false" />
      </EntityType>
      <EntityType Name="order">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Guid" Nullable="false" />
        <Property Name="customerId" Type="Edm.Guid" />
        <Property Name="payerId" Type="Edm.Guid" />
        <Property Name="productId" Type="Edm.Guid" />
        <Property Name="branchNo" Type="Edm.Int32" />
        <Property Name="customerCode" Type="Edm.String" />
        <Property Name="agentId" Type="Edm.Guid" />
        <NavigationProperty Name="customer" Type="t.customer">
          <ReferentialConstraint Property="customerId" ReferencedProperty="id" />
        </NavigationProperty>
        <NavigationProperty Name="payer" Type="t.customer">
          <ReferentialConstraint Property="payerId" ReferencedProperty="id" />
        </NavigationProperty>
        <NavigationProperty Name="product" Type="t.product">
          <ReferentialConstraint Property="productId" ReferencedProperty="id" />
        </NavigationProperty>
        <NavigationProperty Name="branch" Type="t.branch">
          <ReferentialConstraint Property="branchNo" ReferencedProperty="no" />
        </NavigationProperty>
        <NavigationProperty Name="customerByCode" Type="t.customer">
          <ReferentialConstraint Property="customerCode" ReferencedProperty="code" />
        </NavigationProperty>
        <NavigationProperty Name="agent" Type="t.customer" ContainsTarget="true">
          <ReferentialConstraint Property="agentId" ReferencedProperty="id" />
        </NavigationProperty>
        <NavigationProperty Name="self" Type="t.order">
          <ReferentialConstraint Property="id" ReferencedProperty="id" />
        </NavigationProperty>
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="customers" EntityType="t.customer" />
        <EntitySet Name="prospects" EntityType="t.customer" />
        <EntitySet Name="products" EntityType="t.product" />
        <EntitySet Name="branches" EntityType="t.branch" />
        <EntitySet Name="orders" EntityType="t.order">
          <NavigationPropertyBinding Path="customer" Target="Test.Model.c/customers" />
          <NavigationPropertyBinding Path="self" Target="orders" />
        </EntitySet>
      </EntityContainer>"#,
    )
}

#[test]
fn turns_constrained_guid_foreign_keys_into_lookups() {
    let schema = import_ok(&foreign_keys());
    let orders = table(&schema, "orders");
    let lookup = |targets: &[&str]| ColumnType::Lookup {
        targets: strings(targets),
    };
    assert_eq!(
        column(orders, "customerId").ty,
        lookup(&["customers"]),
        "bound to one of the two sets of its type"
    );
    assert_eq!(
        column(orders, "productId").ty,
        lookup(&["products"]),
        "unbound, to the only set of its type"
    );
    assert_eq!(
        names(orders),
        [
            "id",
            "customerId",
            "payerId",
            "productId",
            "branchNo",
            "customerCode",
            "agentId"
        ],
        "a lookup keeps its property's name"
    );
}

#[test]
fn leaves_foreign_keys_a_lookup_cannot_stand_for() {
    let schema = import_ok(&foreign_keys());
    let orders = table(&schema, "orders");
    assert_eq!(
        column(orders, "payerId").ty,
        ColumnType::Guid,
        "unbound, and two sets of its type to choose from"
    );
    assert_eq!(
        column(orders, "branchNo").ty,
        ColumnType::Int,
        "lookups hold GUID keys"
    );
    assert_eq!(
        column(orders, "customerCode").ty,
        ColumnType::String { max_length: None },
        "an alternate key is not the key couplings hold"
    );
    assert_eq!(
        column(orders, "agentId").ty,
        ColumnType::Guid,
        "contained targets belong to no entity set"
    );
    assert_eq!(
        column(orders, "id").ty,
        ColumnType::Guid,
        "the key stays the key"
    );
}

#[test]
fn keeps_foreign_keys_of_composite_constraints_plain() {
    let xml = edmx(
        r#"
      <EntityType Name="account">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Guid" />
        <Property Name="company" Type="Edm.Guid" />
      </EntityType>
      <EntityType Name="entry">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Guid" />
        <Property Name="accountId" Type="Edm.Guid" />
        <Property Name="companyId" Type="Edm.Guid" />
        <NavigationProperty Name="account" Type="t.account">
          <ReferentialConstraint Property="accountId" ReferencedProperty="id" />
          <ReferentialConstraint Property="companyId" ReferencedProperty="company" />
        </NavigationProperty>
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="accounts" EntityType="t.account" />
        <EntitySet Name="entries" EntityType="t.entry" />
      </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let entries = table(&schema, "entries");
    assert_eq!(column(entries, "accountId").ty, ColumnType::Guid);
    assert_eq!(column(entries, "companyId").ty, ColumnType::Guid);
}
