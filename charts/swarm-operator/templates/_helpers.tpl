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
