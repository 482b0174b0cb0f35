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

{{- define "swarm-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "swarm-operator.peerImage" -}}
{{- printf "%s:%s" .Values.peerImage.repository (default .Chart.AppVersion .Values.peerImage.tag) -}}
{{- end -}}

{{/* The rules in every watched namespace: only the verbs the operator uses, one rule per kind of
operator/swarm_operator/owned.py, generated into files/rbac/ (`make crd`). Secrets are listed, watched
and read as metadata only (PartialObjectMetadata): the operator never receives their data. Children
carry a controller ownerReference with blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
admission allows only to who may update the owner's finalizers (hence swarmtopics/finalizers). */}}
{{- define "swarm-operator.namespacedRules" -}}
{{- $.Files.Get "files/rbac/namespaced.yaml" }}
{{- end -}}

{{/* The rules in the release's own namespace: the leader Lease. */}}
{{- define "swarm-operator.operatorRules" -}}
{{- $.Files.Get "files/rbac/operator.yaml" }}
{{- end -}}

{{/* The restricted Pod Security profile's safe sysctls, as a CEL list (podpolicy.SAFE_SYSCTLS). */}}
{{- define "swarm-operator.safeSysctls" -}}
['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']
{{- end -}}
