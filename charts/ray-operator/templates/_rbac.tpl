{{/*
RBAC rules of each component, shared by the cluster-wide and the namespaced form.
*/}}

{{/*
What the RayCluster, RayJob and RayService reconcilers touch: the Ray resources and their
status; the head and worker pods, head and serve services and submitter Jobs they own; Events.
Child RayClusters of RayJobs and RayServices are created, patched and deleted; RayJobs and
RayServices themselves are only read, with their status patched. Writes use merge patches,
so no rule grants update except on finalizers.
*/}}
{{- define "ray-operator.operatorRules" -}}
- apiGroups: ["ray.io"]
  resources: ["rayclusters"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["ray.io"]
  resources: ["rayjobs", "rayservices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["ray.io"]
  resources: ["rayclusters/status", "rayjobs/status", "rayservices/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion need update on the owner's finalizers
# subresource where the OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: ["ray.io"]
  resources: ["rayclusters/finalizers", "rayjobs/finalizers", "rayservices/finalizers"]
  verbs: ["update"]
# patch: RayServices label serving pods ray.io/serve=true|false from Serve's health.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# RayServices count ready serve endpoints (numServeEndpoints, the Ready condition).
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# RayClusters with enableInTreeAutoscaling: the head pod's ServiceAccount, and a Role and
# RoleBinding giving Ray's autoscaler what it uses. Kubernetes lets a Role be created only by
# someone who holds its rules, hence pods/resize (the Role's other rules are granted above).
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "list", "watch", "create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["pods/resize"]
  verbs: ["patch"]
# GCS fault tolerance: one Redis cleanup record per fault-tolerant RayCluster (a ConfigMap
# labelled ray.io/redis-cleanup, patched while the cluster lives, deleted after its cleanup
# Job; the Job is covered by the batch/jobs rule above).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# GCS fault tolerance: whether the Secret gcsFaultToleranceOptions names exists, asked for
# its metadata only (PartialObjectMetadata; the operator never receives a Secret's data).
# Only get: no list or watch of Secrets. The pods get the password from the kubelet.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Aggregated Events: create, then get and patch count/lastTimestamp on repeats.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "get", "patch"]
{{- end }}

{{/*
The exporter only reads the three Ray resources.
*/}}
{{- define "ray-operator.exporterRules" -}}
- apiGroups: ["ray.io"]
  resources: ["rayclusters", "rayjobs", "rayservices"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/*
Leader election: one Lease in the release namespace.
*/}}
{{- define "ray-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update", "patch"]
{{- end }}

{{/*
A ClusterRole and ClusterRoleBinding, or a Role and RoleBinding per watched namespace.
Call with (dict "ctx" $ "name" "..." "component" "..." "rules" "<yaml>" "serviceAccount" "...").
*/}}
{{- define "ray-operator.roleBindings" -}}
{{- $ctx := .ctx }}
{{- $namespaces := include "ray-operator.watchNamespaces" $ctx | fromJsonArray }}
{{- if not $namespaces }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .name }}
  labels:
    {{- include "ray-operator.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
rules:
  {{- .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .name }}
  labels:
    {{- include "ray-operator.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .serviceAccount }}
    namespace: {{ $ctx.Release.Namespace }}
{{- else }}
{{- range $ns := $namespaces }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $.name }}
  namespace: {{ $ns }}
  labels:
    {{- include "ray-operator.labels" (dict "ctx" $ctx "component" $.component) | nindent 4 }}
rules:
  {{- $.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $.name }}
  namespace: {{ $ns }}
  labels:
    {{- include "ray-operator.labels" (dict "ctx" $ctx "component" $.component) | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $.name }}
subjects:
  - kind: ServiceAccount
    name: {{ $.serviceAccount }}
    namespace: {{ $ctx.Release.Namespace }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Secured /metrics: ask the apiserver who a scraper is and whether it may get /metrics (the
rights of the built-in system:auth-delegator ClusterRole).
*/}}
{{- define "ray-operator.metricsAuthRules" -}}
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end }}
