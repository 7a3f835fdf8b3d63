// Storage for the Functions host (timer locks in azure-webjobs-hosts) and for Flex Consumption's
// deployment package. Shared keys are off: everything uses the managed identity.
param name string
param location string
param tags object
param identityPrincipalId string
@description('Person or pipeline running azd; may upload the deployment package. Empty: none')
param deployerPrincipalId string = ''

var deploymentContainerName = 'deploymentpackage'
var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// Account scope, not the deployment container alone: the Functions host creates and leases its own
// containers (azure-webjobs-hosts holds the timer locks), and it reads the package from this account.
resource identityBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, blobDataOwner)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The deployer only needs to write the package, so only into the deployment container.
resource deployerUpload 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(deploymentContainer.id, deployerPrincipalId, blobDataContributor)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: deployerPrincipalId
  }
}

output name string = account.name
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
