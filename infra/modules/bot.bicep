// The Azure Bot resource: Bot Framework's registration of Rapport's messaging endpoint, with the
// Microsoft Teams channel (the approval cards, briefs, commands) and the Outlook channel
// (Actionable Messages answered by the bot). Azure Bot is a global resource.
param name string
param tags object
param endpoint string
@allowed([ 'UserAssignedMSI', 'SingleTenant' ])
param botAppType string
param botAppId string
param identityId string
param tenantId string
@description('Teams and Outlook are standard channels (free on either SKU); S1 carries the SLA')
param sku string = 'S1'

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: { name: sku }
  properties: {
    displayName: 'Rapport'
    endpoint: endpoint
    msaAppId: botAppId
    msaAppType: botAppType
    msaAppTenantId: tenantId
    msaAppMSIResourceId: botAppType == 'UserAssignedMSI' ? identityId : null
    disableLocalAuth: false
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: { isEnabled: true }
  }
}

resource outlook 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'OutlookChannel'
  location: 'global'
  properties: {
    channelName: 'OutlookChannel'
  }
}

output name string = bot.name
