// Rapport's Azure resources, for `azd up` (subscription scope: creates the resource group).
//
// What it makes: one user-assigned managed identity that the Function App, the Azure Bot, Cosmos DB,
// Key Vault and Storage all trust; a Function App on Flex Consumption (Linux, Python 3.11); an Azure
// Bot with the Teams and Outlook channels; Cosmos DB (serverless by default) with one container per
// record family, partitioned on /tenantId; Key Vault (RBAC) for the few secrets; Application Insights
// on a Log Analytics workspace; the Storage account the Functions host and its deployments use.
//
// No Bicep CLI runs in Rapport's own test environment: tests/test_deploy_consistency.py checks these
// files as text (resources, outputs, app settings = rapport.settings.SETTINGS). Keep them plain.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource names')
param environmentName string

@minLength(1)
@description('Azure region for every resource (one that offers Flex Consumption)')
param location string

@description('Object id of the person or pipeline running azd: may upload the code, set secrets, onboard tenants')
param principalId string = ''

@description('Application (client) id of the Entra app registration behind the add-in API and Graph (docs/deploy.md step 1)')
param rapportClientId string

@secure()
@description('Client secret of that app registration. Empty: the managed identity is its federated credential')
param rapportClientSecret string = ''

@allowed([ 'UserAssignedMSI', 'SingleTenant' ])
@description('The bot\'s identity: the managed identity (no secret) or a single-tenant app registration')
param botAppType string = 'UserAssignedMSI'

@description('SingleTenant only: the bot\'s app registration client id')
param botAppId string = ''

@secure()
@description('SingleTenant only: the bot\'s app registration client secret')
param botAppPassword string = ''

@description('Provider id from the Actionable Email Developer Dashboard (docs/deploy.md step 4); empty until registered')
param actionableMessagesOriginator string = ''

@description('Comma-separated Entra tenant ids allowed to use Rapport (default: this tenant)')
param allowedTenants string = ''

@description('Public https base URL when a custom domain fronts the app (default: https://<function app>.azurewebsites.net)')
param customPublicUrl string = ''

@description('Cosmos DB capacity mode: serverless (pay per request) or provisioned autoscale')
param cosmosServerless bool = true

@description('Where Rapport\'s alerts (failed sends, failing webhooks, 5xx rate) are mailed; empty: alerts only show in the portal.')
param alertEmail string = ''

@description('Azure OpenAI endpoint; empty: template drafting (no model)')
param azureOpenAiEndpoint string = ''

@description('Azure OpenAI deployment name (needed with the endpoint)')
param azureOpenAiDeployment string = ''

@description('Azure OpenAI api-version (a GA version that supports response_format json_object)')
param azureOpenAiApiVersion string = '2024-10-21'

@description('Model name for an OpenAI-compatible endpoint (not used with Azure OpenAI, which names a deployment)')
param openAiModel string = 'gpt-4o-mini'

@secure()
@description('Azure OpenAI key; empty: no key (managed identity where the drafter supports it)')
param azureOpenAiApiKey string = ''

@description('OpenAI-compatible base URL (alternative to Azure OpenAI)')
param openAiBaseUrl string = ''

@secure()
@description('OpenAI API key (alternative to Azure OpenAI)')
param openAiApiKey string = ''

var tags = { 'azd-env-name': environmentName, app: 'rapport' }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var functionAppName = 'func-rapport-${token}'
var publicUrl = empty(customPublicUrl) ? 'https://${functionAppName}.azurewebsites.net' : customPublicUrl
var publicHost = split(publicUrl, '/')[2]
var tenantId = tenant().tenantId

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: { name: 'id-rapport-${token}', location: location, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: 'log-rapport-${token}'
    appInsightsName: 'appi-rapport-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    appInsightsId: monitoring.outputs.appInsightsId
    location: location
    tags: tags
    alertEmail: alertEmail
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'strapport${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-rapport-${token}'
    location: location
    tags: tags
    serverless: cosmosServerless
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-rapport-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    secrets: {
      'rapport-client-secret': rapportClientSecret
      'bot-app-password': botAppType == 'SingleTenant' ? botAppPassword : ''
      'azure-openai-api-key': azureOpenAiApiKey
      'openai-api-key': openAiApiKey
    }
  }
}

var botId = botAppType == 'UserAssignedMSI' ? identity.outputs.clientId : botAppId

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-rapport-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    queueServiceUrl: storage.outputs.queueServiceUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultName: keyVault.outputs.name
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    publicUrl: publicUrl
    apiAudience: 'api://${publicHost}/${rapportClientId}'
    tenantId: tenantId
    allowedTenants: empty(allowedTenants) ? tenantId : allowedTenants
    botAppId: botId
    botAppType: botAppType
    hasBotPassword: botAppType == 'SingleTenant' && !empty(botAppPassword)
    actionableMessagesOriginator: actionableMessagesOriginator
    rapportClientId: rapportClientId
    hasClientSecret: !empty(rapportClientSecret)
    azureOpenAiEndpoint: azureOpenAiEndpoint
    azureOpenAiDeployment: azureOpenAiDeployment
    azureOpenAiApiVersion: azureOpenAiApiVersion
    openAiModel: openAiModel
    hasAzureOpenAiKey: !empty(azureOpenAiApiKey)
    openAiBaseUrl: openAiBaseUrl
    hasOpenAiKey: !empty(openAiApiKey)
  }
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  scope: rg
  params: {
    name: 'bot-rapport-${token}'
    tags: tags
    endpoint: '${publicUrl}/api/messages'
    botAppType: botAppType
    botAppId: botId
    identityId: identity.outputs.id
    tenantId: tenantId
  }
}

// azd writes these into .azure/<env>/.env; `rapport manifest build` and `rapport tenant add` read them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_BOT_NAME string = bot.outputs.name
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output RAPPORT_PUBLIC_URL string = publicUrl
output RAPPORT_CLIENT_ID string = rapportClientId
output RAPPORT_API_AUDIENCE string = 'api://${publicHost}/${rapportClientId}'
output MicrosoftAppId string = botId
output MicrosoftAppType string = botAppType
output MicrosoftAppTenantId string = tenantId
output RAPPORT_STORE string = 'cosmos'
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
