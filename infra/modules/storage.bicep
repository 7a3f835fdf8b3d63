// Storage for the Functions host (timer locks in azure-webjobs-hosts), for Flex Consumption's
// deployment package, and for the work queue (rapport-work and its poison queue: rapport/work_queue.py).
// Shared keys are off: everything uses the managed identity.
param name string
param location string
param tags object
param identityPrincipalId string
@description('Person or pipeline running azd; may upload the deployment package. Empty: none')
param deployerPrincipalId string = ''

var deploymentContainerName = 'deploymentpackage'
var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var queueMessageProcessor = '8a0f0c08-91a1-4084-bc3d-661d67233fed'
// The names rapport/work_queue.py sends to and function_app's queue trigger reads; the poison queue is
// the one the Functions host moves a message to after host.json's maxDequeueCount failed deliveries.
var workQueueName = 'rapport-work'

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

resource queues 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource workQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queues
  name: workQueueName
}

resource workPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queues
  name: '${workQueueName}-poison'
}

// The work queue through the managed identity: Rapport sends a message per work item (Contributor:
// send, and peek the poison queue for `rapport work`); the Functions host's queue listener receives,
// deletes, and moves poison messages (Message Processor, as its identity-based trigger asks for, and
// Contributor to create the poison queue if it is ever missing). Account scope: the host probes the
// queue service, not one queue.
resource identityQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, queueDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource identityQueueProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, queueMessageProcessor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueMessageProcessor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
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
output queueServiceUrl string = 'https://${account.name}.queue.${environment().suffixes.storage}'
output workQueueName string = workQueue.name
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
