// Key Vault with Azure RBAC (no access policies). The app's identity may read secrets (Key Vault
// Secrets User) and nothing else; the deployer may set them (Key Vault Secrets Officer) for rotation.
// A secret is stored only when its value is given; the app settings then point at it by name.
param name string
param location string
param tags object
param identityPrincipalId string
param deployerPrincipalId string = ''
@secure()
@description('Secret name -> value; empty values are skipped')
param secrets object

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource stored 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for s in filter(items(secrets), x => !empty(x.value)): {
  parent: vault
  name: s.key
  properties: { value: s.value }
}]

resource appReads 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerWrites 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, secretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficer)
    principalId: deployerPrincipalId
  }
}

output name string = vault.name
