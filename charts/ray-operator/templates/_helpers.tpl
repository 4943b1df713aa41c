{{/*
Names, labels, images and the derived settings every template shares.
*/}}

{{- define "ray-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix: the release name alone when it already contains the chart name.
Kept to 52 characters so "-exporter-NN" suffixes stay within 63.
*/}}
{{- define "ray-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ray-operator.exporterName" -}}
{{- printf "%s-exporter" (include "ray-operator.fullname" .) }}
{{- end }}

{{- define "ray-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. Call with (dict "ctx" $ "component" "operator").
*/}}
{{- define "ray-operator.labels" -}}
helm.sh/chart: {{ include "ray-operator.chart" .ctx }}
{{ include "ray-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: ray-operator
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades. Call with (dict "ctx" $ "component" "exporter").
*/}}
{{- define "ray-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ray-operator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ray-operator.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "ray-operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ray-operator.exporterServiceAccountName" -}}
{{- if .Values.exporter.serviceAccount.create }}
{{- default (include "ray-operator.exporterName" .) .Values.exporter.serviceAccount.name }}
{{- else }}
{{- required "exporter.serviceAccount.name is required when exporter.serviceAccount.create is false" .Values.exporter.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference. Call with (dict "image" .Values.operator.image "ctx" $).
*/}}
{{- define "ray-operator.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/*
The namespaces both programs watch, as a list; empty means all namespaces.
*/}}
{{- define "ray-operator.watchNamespaces" -}}
{{- if .Values.singleNamespace }}
{{- list .Release.Namespace | toJson }}
{{- else }}
{{- .Values.watchNamespaces | uniq | toJson }}
{{- end }}
{{- end }}

{{/*
"true" when the operator runs leader election: forced on, or more than one replica.
*/}}
{{- define "ray-operator.leaderElection" -}}
{{- if or .Values.operator.leaderElection.enabled (gt (int .Values.operator.replicas) 1) }}true{{- end }}
{{- end }}

{{- define "ray-operator.sidecar" -}}
{{- if eq .Values.exporter.mode "sidecar" }}true{{- end }}
{{- end }}

{{/*
The log-file volume and mount of one program. Call with (dict "logFile" .Values.x.logFile "name" "operator-logs").
*/}}
{{- define "ray-operator.logVolume" -}}
- name: {{ .name }}
  emptyDir:
    {{- with .logFile.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- end }}

{{/*
The exporter container, shared by the exporter Deployment and the sidecar mode.
*/}}
{{- define "ray-operator.exporterContainer" -}}
{{- $ctx := .ctx -}}
{{- $e := $ctx.Values.exporter -}}
{{- $namespaces := include "ray-operator.watchNamespaces" $ctx | fromJsonArray -}}
- name: exporter
  image: {{ include "ray-operator.image" (dict "image" $e.image "ctx" $ctx) }}
  imagePullPolicy: {{ $e.image.pullPolicy }}
  args:
    - --listen-address=0.0.0.0:{{ $e.port }}
    - --log-format={{ $e.logFormat }}
    - --log-level={{ $e.logLevel }}
    - --kube-api-qps={{ $e.kubeApi.qps }}
    - --kube-api-burst={{ $e.kubeApi.burst }}
    {{- with $namespaces }}
    - --namespaces={{ join "," . }}
    {{- end }}
    {{- if gt (int $e.shards) 1 }}
    - --shard={{ .shard }}
    - --total-shards={{ $e.shards }}
    {{- end }}
    {{- if $e.logFile.enabled }}
    - --log-file-path={{ $e.logFile.path }}
    {{- end }}
    {{- if $e.secureMetrics.enabled }}
    - --secure-metrics
    - --metrics-auth={{ $e.secureMetrics.auth }}
    {{- if $e.secureMetrics.certSecret }}
    - --tls-cert-file={{ include "ray-operator.exporterTLSDir" $ctx }}/tls.crt
    - --tls-key-file={{ include "ray-operator.exporterTLSDir" $ctx }}/tls.key
    {{- else }}
    - --tls-san={{ include "ray-operator.exporterServiceNames" $ctx | fromJsonArray | join "," }}
    {{- end }}
    {{- end }}
    {{- with $e.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $e.extraEnv }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: metrics
      containerPort: {{ $e.port }}
      protocol: TCP
  {{- with $e.livenessProbe }}
  livenessProbe:
    {{- include "ray-operator.exporterProbe" (dict "ctx" $ctx "probe" .) | nindent 4 }}
  {{- end }}
  {{- with $e.readinessProbe }}
  readinessProbe:
    {{- include "ray-operator.exporterProbe" (dict "ctx" $ctx "probe" .) | nindent 4 }}
  {{- end }}
  {{- with $e.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $e.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: exporter-tmp
      mountPath: /tmp
    {{- if $e.logFile.enabled }}
    - name: exporter-logs
      mountPath: {{ dir $e.logFile.path }}
    {{- end }}
    {{- if and $e.secureMetrics.enabled $e.secureMetrics.certSecret }}
    - name: exporter-tls
      mountPath: {{ include "ray-operator.exporterTLSDir" $ctx }}
      readOnly: true
    {{- end }}
{{- end }}

{{/*
An exporter probe; with secure metrics an httpGet probe without a scheme uses HTTPS (the
kubelet does not verify the certificate). Call with (dict "ctx" $ "probe" .Values.exporter.livenessProbe).
*/}}
{{- define "ray-operator.exporterProbe" -}}
{{- $probe := deepCopy .probe }}
{{- if and .ctx.Values.exporter.secureMetrics.enabled $probe.httpGet }}
{{- if not $probe.httpGet.scheme }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/*
Where the certSecret is mounted in the exporter container.
*/}}
{{- define "ray-operator.exporterTLSDir" -}}
/etc/ray-exporter/tls
{{- end }}

{{/*
The DNS names of the exporter Service, as a JSON list (the self-signed certificate's names).
*/}}
{{- define "ray-operator.exporterServiceNames" -}}
{{- $service := include "ray-operator.exporterName" . }}
{{- $namespace := .Release.Namespace }}
{{- list $service (printf "%s.%s" $service $namespace) (printf "%s.%s.svc" $service $namespace) (printf "%s.%s.svc.cluster.local" $service $namespace) | toJson }}
{{- end }}

{{/*
"true" when /metrics demands a bearer token reviewed by the apiserver.
*/}}
{{- define "ray-operator.metricsAuth" -}}
{{- if and .Values.exporter.secureMetrics.enabled .Values.exporter.secureMetrics.auth }}true{{- end }}
{{- end }}

{{/*
Scheme, TLS and credentials of a ServiceMonitor endpoint or PodMonitor podMetricsEndpoint.
Call with (dict "ctx" $ "monitor" .Values.metrics.serviceMonitor). With token checks the
token always comes from a Secret (`authorization.credentials`): the monitor's
bearerTokenSecret, else the token Secret of the chart's scraper ServiceAccount
(metrics-scraper.yaml). Never bearerTokenFile: deprecated in the Prometheus Operator and
refused under arbitraryFSAccessThroughSMs.deny.
*/}}
{{- define "ray-operator.scrapeSecurity" -}}
{{- $ctx := .ctx }}
{{- $secure := $ctx.Values.exporter.secureMetrics }}
{{- if not $secure.enabled }}
scheme: http
{{- else }}
scheme: https
tlsConfig:
  {{- if .monitor.tlsConfig }}
  {{- toYaml .monitor.tlsConfig | nindent 2 }}
  {{- else if $secure.certSecret }}
  ca:
    secret:
      name: {{ $secure.certSecret }}
      key: {{ $secure.caKey }}
  serverName: {{ printf "%s.%s.svc" (include "ray-operator.exporterName" $ctx) $ctx.Release.Namespace }}
  {{- else }}
  insecureSkipVerify: true
  {{- end }}
{{- if include "ray-operator.metricsAuth" $ctx }}
authorization:
  type: Bearer
  credentials:
    {{- if .monitor.bearerTokenSecret }}
    name: {{ .monitor.bearerTokenSecret.name }}
    key: {{ .monitor.bearerTokenSecret.key }}
    {{- else }}
    name: {{ include "ray-operator.scraperName" $ctx }}-token
    key: token
    {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The exporter container's volumes.
*/}}
{{- define "ray-operator.exporterVolumes" -}}
- name: exporter-tmp
  emptyDir: {}
{{- if .Values.exporter.logFile.enabled }}
{{ include "ray-operator.logVolume" (dict "logFile" .Values.exporter.logFile "name" "exporter-logs") }}
{{- end }}
{{- with .Values.exporter.secureMetrics }}
{{- if and .enabled .certSecret }}
- name: exporter-tls
  secret:
    secretName: {{ .certSecret }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount (and, with "-token", of its token Secret) whose token the
ServiceMonitor or PodMonitor sends when /metrics checks tokens and no bearerTokenSecret is set.
*/}}
{{- define "ray-operator.scraperName" -}}
{{- printf "%s-metrics-scraper" (include "ray-operator.fullname" .) }}
{{- end }}

{{/*
Namespace of an optional monitoring object: its own value, else the release namespace.
*/}}
{{- define "ray-operator.namespaceOr" -}}
{{- default .ctx.Release.Namespace .namespace }}
{{- end }}

{{/*
Fails with a message naming the value when a monitoring.coreos.com/v1 kind is enabled
but the cluster does not serve it. Either form counts as served: the kind
(monitoring.coreos.com/v1/ServiceMonitor) or the group/version (monitoring.coreos.com/v1),
as most charts check and as `helm template --api-versions` is often given. Call with (dict "ctx" $ "kind" "ServiceMonitor" "value" "metrics.serviceMonitor.enabled").
*/}}
{{- define "ray-operator.requireMonitoringApi" -}}
{{- $apis := .ctx.Capabilities.APIVersions }}
{{- $served := or ($apis.Has (printf "monitoring.coreos.com/v1/%s" .kind)) ($apis.Has "monitoring.coreos.com/v1") }}
{{- if and .ctx.Values.monitoringApiCheck (not $served) }}
{{- fail (printf "%s=true, but this cluster does not serve monitoring.coreos.com/v1 %s (the Prometheus Operator CRDs are not installed). Install them first (for example with kube-prometheus-stack or prometheus-operator-crds), or set %s=false. When rendering offline, pass --api-versions monitoring.coreos.com/v1/%s (or the group/version monitoring.coreos.com/v1), or set monitoringApiCheck=false." .value .kind .value .kind) }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy ingress rules of the metrics port: the configured peers (any source when
none) and always the chart's helm test pod.
*/}}
{{- define "ray-operator.metricsIngress" -}}
- ports:
    - port: metrics
      protocol: TCP
  {{- with .Values.networkPolicy.metricsFrom }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- if .Values.networkPolicy.metricsFrom }}
- ports:
    - port: metrics
      protocol: TCP
  from:
    - podSelector:
        matchLabels:
          {{- include "ray-operator.selectorLabels" (dict "ctx" $ "component" "test") | nindent 10 }}
{{- end }}
{{- end }}

{{/*
The scrape settings every ServiceMonitor endpoint and PodMonitor endpoint of the chart shares,
from a monitor's values: interval, scrapeTimeout, honorLabels, the `job` relabeling and the
user's relabelings.
*/}}
{{- define "ray-operator.scrapeSettings" -}}
{{- with .interval }}
interval: {{ . }}
{{- end }}
{{- with .scrapeTimeout }}
scrapeTimeout: {{ . }}
{{- end }}
honorLabels: {{ .honorLabels }}
{{- if or .job .relabelings }}
relabelings:
  {{- with .job }}
  - action: replace
    targetLabel: job
    replacement: {{ . | quote }}
  {{- end }}
  {{- with .relabelings }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- with .metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
