// The Function App on Flex Consumption (Linux, Python 3.11) that runs function_app.py, as the
// user-assigned identity. Its app settings are two lists, kept apart on purpose:
//   platformSettings - names the Functions host and the Azure SDKs read (not Rapport's);
//   rapportSettings  - exactly rapport.settings.SETTINGS, one line each, secrets as Key Vault references.
// tests/test_deploy_consistency.py compares rapportSettings with SETTINGS and platformSettings with
// its allow-list, so a setting added to Rapport without a value here fails the build.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
@description('The Storage queue service the work queue is on (storage.bicep), e.g. https://x.queue.core.windows.net')
param queueServiceUrl string
param appInsightsConnectionString string
param keyVaultName string
param cosmosEndpoint string
param cosmosDatabase string
param publicUrl string
param apiAudience string
param tenantId string
param allowedTenants string
param botAppId string
param botAppType string
param hasBotPassword bool
param actionableMessagesOriginator string
param rapportClientId string
param hasClientSecret bool
param azureOpenAiEndpoint string
param azureOpenAiDeployment string
param azureOpenAiApiVersion string
param openAiModel string
param hasAzureOpenAiKey bool
param openAiBaseUrl string
param hasOpenAiKey bool
param pythonVersion string = '3.11'
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

// A Key Vault reference resolves with keyVaultReferenceIdentity (below). An empty value means unset:
// a reference to a secret that was never stored would reach the app as literal text.
var kv = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='

var platformSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
  RAPPORT_WORK_QUEUE__credential: 'managedidentity' // the queue trigger's connection, through the identity
  RAPPORT_WORK_QUEUE__clientId: identityClientId
}

var rapportSettings = {
  RAPPORT_STORE: 'cosmos'
  RAPPORT_SQLITE_PATH: ''
  COSMOS_ENDPOINT: cosmosEndpoint
  COSMOS_KEY: ''
  COSMOS_DATABASE: cosmosDatabase
  COSMOS_VERIFY_TLS: 'true'
  RAPPORT_PUBLIC_URL: publicUrl
  MicrosoftAppId: botAppId
  MicrosoftAppPassword: hasBotPassword ? '${kv}bot-app-password)' : ''
  MicrosoftAppType: botAppType
  MicrosoftAppTenantId: tenantId
  BotOpenIdMetadata: 'https://login.botframework.com/v1/.well-known/openidconfiguration'
  RAPPORT_AM_ORIGINATOR: actionableMessagesOriginator
  RAPPORT_CLIENT_ID: rapportClientId
  RAPPORT_CLIENT_SECRET: hasClientSecret ? '${kv}rapport-client-secret)' : ''
  RAPPORT_API_AUDIENCE: apiAudience
  RAPPORT_ALLOWED_TENANTS: allowedTenants
  RAPPORT_CLIENT_APPS: '' // empty: the add-in's own id and Microsoft's Office/Teams clients (rapport/settings.py)
  GRAPH_BASE_URL: 'https://graph.microsoft.com/v1.0'
  ENTRA_AUTHORITY_HOST: 'https://login.microsoftonline.com'
  AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
  AZURE_OPENAI_API_KEY: hasAzureOpenAiKey ? '${kv}azure-openai-api-key)' : ''
  AZURE_OPENAI_DEPLOYMENT: azureOpenAiDeployment
  AZURE_OPENAI_API_VERSION: azureOpenAiApiVersion
  OPENAI_API_KEY: hasOpenAiKey ? '${kv}openai-api-key)' : ''
  OPENAI_BASE_URL: openAiBaseUrl
  OPENAI_MODEL: openAiModel
  RAPPORT_TELEMETRY: 'auto' // Azure Monitor through APPLICATIONINSIGHTS_CONNECTION_STRING (platform settings)
  RAPPORT_DEV_AUTH: '0'
  // The work queue: no connection string (shared keys are off), the identity-based connection instead.
  RAPPORT_WORK_QUEUE: ''
  RAPPORT_WORK_QUEUE__queueServiceUri: queueServiceUrl
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: instanceMemoryMB }
      runtime: { name: 'python', version: pythonVersion }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(platformSettings, rapportSettings)
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
