// Alert rules on Rapport's telemetry (rapport/telemetry.py): failed sends, failing Graph webhooks, and
// the rate of 5xx answers. Each fires an action group that mails the firm's admin, when one is given.
// tests/test_deploy_consistency.py checks that the metric and span names here are the ones the code emits.
param appInsightsId string
param location string
param tags object
param alertEmail string = ''

resource actions 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-rapport-admin'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'rapport'
    enabled: true
    emailReceivers: [ { name: 'admin', emailAddress: alertEmail, useCommonAlertSchema: true } ]
  }
}

var rules = [
  {
    name: 'rapport-send-failures'
    description: 'Follow-up mails failed for good (rapport.mail.failed) in the last 15 minutes.'
    severity: 1
    query: 'customMetrics | where name == "rapport.mail.failed" | summarize failed = sum(valueSum) | where failed > 0'
  }
  {
    name: 'rapport-webhook-failures'
    description: 'Graph change notifications answered 5xx: mail is captured late until the next delta sync.'
    severity: 2
    query: 'requests | where name in ("graph_notifications", "graph_lifecycle", "rapport.capture.webhooks.notifications", "rapport.capture.webhooks.lifecycle") | where toint(resultCode) >= 500 and toint(resultCode) != 503 | summarize failed = count() | where failed > 5'
  }
  {
    name: 'rapport-5xx-rate'
    description: 'More than 5% of answers were 5xx (at least 20 requests) in the last 15 minutes.'
    severity: 2
    query: 'requests | summarize total = count(), failed = countif(toint(resultCode) >= 500) | where total >= 20 and todouble(failed) / total > 0.05'
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in rules: {
  name: rule.name
  location: location
  tags: tags
  properties: {
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [ appInsightsId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: empty(alertEmail) ? {} : { actionGroups: [ actions.id ] }
  }
}]
