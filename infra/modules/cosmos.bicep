// Cosmos DB for NoSQL: database `rapport`, one container per record family, every container
// partitioned on /tenantId (the firm's Entra tenant; a tenant is never a query away from another).
// Keys are disabled: the app reaches the data plane with its managed identity (Cosmos DB Built-in
// Data Contributor), which cannot create containers, so every container the code uses is made here.
// The container list is rapport.records.FAMILIES plus the tenant directory of rapport/store/cosmos.py;
// tests/test_deploy_consistency.py keeps them equal.
param name string
param location string
param tags object
param serverless bool = true
param identityPrincipalId string
@description('Person running azd: may run `rapport tenant add` against this account. Empty: none')
param deployerPrincipalId string = ''

var databaseName = 'rapport'
var containerNames = [
  'accounts'
  'audit'
  'contacts'
  'drafts'
  'interactions'
  'matters'
  'meetings'
  'metrics'
  'outbox'
  'people'
  'pipeline'
  'relationships'
  'signals'
  'suppressions'
  'sync'
  'tenants'
  'walls'
  'work'
  'tenant_directory'
]
// The same policy rapport/store/cosmos.py asks for: ORDER BY ixAt, id needs these composite indexes.
var indexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [ { path: '/*' } ]
  excludedPaths: [ { path: '/"_etag"/?' } ]
  compositeIndexes: [
    [ { path: '/ixAt', order: 'ascending' }, { path: '/id', order: 'ascending' } ]
    [ { path: '/ixAt', order: 'descending' }, { path: '/id', order: 'descending' } ]
  ]
}
var dataContributor = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [ { locationName: location, failoverPriority: 0, isZoneRedundant: false } ]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    capabilities: serverless ? [ { name: 'EnableServerless' } ] : []
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: 1000 } }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for c in containerNames: {
  parent: database
  name: c
  properties: {
    resource: {
      id: c
      partitionKey: { paths: [ '/tenantId' ], kind: 'Hash', version: 2 }
      indexingPolicy: indexingPolicy
    }
  }
}]

resource appData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: account
  name: guid(account.id, identityPrincipalId, dataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributor}'
    principalId: identityPrincipalId
    scope: account.id
  }
}

resource deployerData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = if (!empty(deployerPrincipalId)) {
  parent: account
  name: guid(account.id, deployerPrincipalId, dataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributor}'
    principalId: deployerPrincipalId
    scope: account.id
  }
}

output endpoint string = account.properties.documentEndpoint
output databaseName string = databaseName
