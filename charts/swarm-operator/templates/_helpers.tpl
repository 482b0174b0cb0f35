{{- define "swarm-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "swarm-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "swarm-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "swarm-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: swarm-operator
{{- end -}}

{{- define "swarm-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "swarm-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "swarm-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "swarm-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from a values block (repository, tag, digest): repository:tag, the tag
defaulting to the chart's appVersion, then @digest when one is given (the runtime pulls by the
digest; the tag stays for people). Called with (list .Values.image $). */}}
{{- define "swarm-operator.imageRef" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- $ref := printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- if $image.digest -}}
{{- $ref = printf "%s@%s" $ref $image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "swarm-operator.image" -}}
{{- include "swarm-operator.imageRef" (list .Values.image .) -}}
{{- end -}}

{{/* The peer image the operator gives bootstrap hosts (--peer-image), pinned like the operator's. */}}
{{- define "swarm-operator.peerImage" -}}
{{- include "swarm-operator.imageRef" (list .Values.peerImage .) -}}
{{- end -}}

{{/* The rules in every watched namespace: only the verbs the operator uses. Secrets are listed,
watched and read as metadata only (PartialObjectMetadata): the operator never receives their data. */}}
{{- define "swarm-operator.namespacedRules" -}}
{{- /* One rule per kind, exactly operator/swarm_operator/owned.py's KINDS (a unit test keeps them equal). */}}
- apiGroups: ["swarm-operator.dev"]
  resources: ["swarmtopics"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["swarm-operator.dev"]
  resources: ["swarmtopics/status"]
  verbs: ["patch"]
# Children carry a controller ownerReference with blockOwnerDeletion, which the API server's
# OwnerReferencesPermissionEnforcement admission allows only to who may update the owner's finalizers.
- apiGroups: ["swarm-operator.dev"]
  resources: ["swarmtopics/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* The rules in the release's own namespace: the leader Lease (owned.py's operator_rbac_rules). */}}
{{- define "swarm-operator.operatorRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end -}}
