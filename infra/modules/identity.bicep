// The one workload identity of a Rapport deployment. The Function App runs as it, the Azure Bot
// authenticates as it (msaAppType UserAssignedMSI), and Cosmos DB, Key Vault and Storage grant it
// exactly the data-plane roles it needs (see each module). No keys or connection strings.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
