{{/* Names and labels. */}}
{{- define "regtune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regtune.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one component's objects: <fullname>-api, <fullname>-worker... at most 63
     characters, the fullname cut to make room, so that the component's suffix stays (cutting
     the whole name gave every component of a 62-character fullnameOverride one name). */}}
{{- define "regtune.componentName" -}}
{{- $room := sub 62 (len .component) | int }}
{{- printf "%s-%s" (include "regtune.fullname" .root | trunc $room | trimSuffix "-") .component }}
{{- end }}

{{- define "regtune.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "regtune.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "regtune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regtune.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The worker image for workers (torch), the API image (no torch) for every other part. */}}
{{- define "regtune.image" -}}
{{- $image := .root.Values.image }}
{{- $repository := ternary $image.repository $image.apiRepository (eq .component "worker") }}
{{- printf "%s:%s" $repository (default .root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Secrets: the chart's own, or the ones named in values. */}}
{{- define "regtune.databaseSecretName" -}}
{{- if .Values.database.url }}{{ include "regtune.fullname" . }}{{ else }}{{ .Values.database.existingSecret }}{{ end }}
{{- end }}

{{- define "regtune.databaseSecretKey" -}}
{{- if .Values.database.url }}database-url{{ else }}{{ .Values.database.existingSecretKey }}{{ end }}
{{- end }}

{{- define "regtune.scalerSecretKey" -}}
{{- if .Values.database.url }}scaler-connection{{ else }}{{ default .Values.database.existingSecretKey .Values.database.existingSecretScalerKey }}{{ end }}
{{- end }}

{{- define "regtune.adminSecretName" -}}
{{- default (include "regtune.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "regtune.adminSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}admin-key{{ end }}
{{- end }}

{{/* Whether the chart creates a Secret, and what it holds. */}}
{{- define "regtune.ownsAdminKey" -}}
{{- if and (not .Values.auth.insecureNoAuth) (not .Values.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "regtune.validate" -}}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "regtune needs an external PostgreSQL: set database.url, or database.existingSecret (the name of a Secret holding the URL)" }}
{{- end }}
{{- /* the schemes service/settings.py takes for PostgreSQL: postgres:// and postgresql://, which
     it maps to its driver, and that driver's own postgresql+psycopg:// */}}
{{- if and .Values.database.url (not (regexMatch "^(postgres|postgresql|postgresql\\+psycopg)://" .Values.database.url)) }}
{{- fail "database.url must be a PostgreSQL URL, postgresql://user:password@host:5432/db (or postgres://, or postgresql+psycopg://, regtune's driver): the worker pool shares one database" }}
{{- end }}
{{- with .Values.auth.adminKey }}
{{- include "regtune.validateAdminKey" (toString .) }}
{{- end }}
{{- /* the chart's own Secret is named <fullname> and replaced on every install and upgrade
     (before-hook-creation): an existing Secret of that name would be deleted, and the pods would
     read the chart's in its place */}}
{{- $held := list }}
{{- if .Values.database.url }}{{ $held = append $held "database.url" }}{{ end }}
{{- if include "regtune.ownsAdminKey" . }}{{ $held = append $held (ternary "auth.adminKey" "the admin key it generates" (not (empty .Values.auth.adminKey))) }}{{ end }}
{{- if $held }}
{{- $own := include "regtune.fullname" . }}
{{- range $value := list "database" "auth" }}
{{- $name := (index $.Values $value).existingSecret }}
{{- if eq $name $own }}
{{- fail (printf "%s.existingSecret %q is the name of the chart's own Secret (its fullname: the release name, with -regtune unless it holds it, or fullnameOverride), which it creates for %s and replaces on every install and upgrade: yours would be deleted. Name your Secret otherwise, or set fullnameOverride" $value $name (join " and " $held)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $_ := merge (dict) .Values.config .Values.api.config .Values.worker.config .Values.dashboard.config }}
{{- if not (regexMatch "^[a-z][a-z0-9_]*$" $name) }}
{{- fail (printf "config.%s: settings are named in snake_case, as in service/settings.py" $name) }}
{{- end }}
{{- if has $name (list "database_url" "admin_key") }}
{{- fail (printf "config.%s: set it through database.* or auth.*, which keep it in a Secret" $name) }}
{{- end }}
{{- /* variables the templates set from values of their own: given twice, a pod's env held two
     entries of one name with different values, which server-side apply refuses */}}
{{- $own := dict "public_url" "from api.publicUrl: set that" "insecure_no_auth" "from auth.insecureNoAuth: set that" "dashboard_network_ok" "for the dashboard, which listens on its pod's address" }}
{{- if hasKey $own $name }}
{{- fail (printf "config.%s: the chart sets REGTUNE_%s itself, %s" $name (upper $name) (get $own $name)) }}
{{- end }}
{{- end }}
{{- /* extraEnv: variables besides the settings, each named once (server-side apply refuses a
     pod whose env names one twice) */}}
{{- range $component := list "api" "worker" "dashboard" "migrate" }}
{{- $seen := dict }}
{{- range $variable := default (list) (index $.Values $component).extraEnv }}
{{- /* in any case: regtune reads its settings' names without regard to case */}}
{{- if hasPrefix "REGTUNE_" (upper $variable.name) }}
{{- $where := ternary "config" (printf "config or %s.config" $component) (eq $component "migrate") }}
{{- fail (printf "%s.extraEnv: %s is a regtune setting: set it in %s by its name (%s), which the chart checks and writes" $component $variable.name $where (lower (substr 8 (len $variable.name) $variable.name))) }}
{{- end }}
{{- if hasKey $seen $variable.name }}
{{- fail (printf "%s.extraEnv names %s twice" $component $variable.name) }}
{{- end }}
{{- $_ := set $seen $variable.name true }}
{{- end }}
{{- end }}
{{- /* One heartbeat pair for the pool: a worker records its own and is judged by it, but a
     trial no worker has linked yet, and an older regtune's worker, are judged by the sweeping
     API's, and the chart checks the pair's rule once (below). */}}
{{- range $component := list "api" "worker" "dashboard" }}
{{- range $name := list "heartbeat_interval" "grace_period" }}
{{- if hasKey (default (dict) (index $.Values $component).config) $name }}
{{- fail (printf "%s.config.%s: set heartbeat_interval and grace_period in config, for every component: one pair for the pool, checked once (a trial no worker has linked yet is judged by the API's)" $component $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* service/settings.py's defaults and rule (BEATS_PER_GRACE) */}}
{{- $beat := int (default 5 .Values.config.heartbeat_interval) }}
{{- $grace := int (default 20 .Values.config.grace_period) }}
{{- if lt $grace (mul 3 $beat) }}
{{- fail (printf "config.grace_period (REGTUNE_GRACE_PERIOD, %d) must be at least 3 × config.heartbeat_interval (REGTUNE_HEARTBEAT_INTERVAL, %d), so that a live worker's trials are failed as stale only after two heartbeats in a row are missed" $grace $beat) }}
{{- end }}
{{- end }}

{{/* service/settings.py's PLACEHOLDER_SECRETS, as JSON (tests/deploy/test_helm_values.py keeps
     the two lists equal). */}}
{{- define "regtune.placeholderSecrets" -}}
["admin", "change-me", "changeme", "example", "password", "secret"]
{{- end }}

{{/* The rules service/settings.py's _real_secret holds an admin key to, so that a key the API
     would refuse at start (exit 2) is refused here; called with the key. No message repeats it. */}}
{{- define "regtune.validateAdminKey" -}}
{{- $key := . }}
{{- if not (regexMatch "^[!-~]([ -~]*[!-~])?$" $key) }}
{{- fail "auth.adminKey must be printable ASCII, as the Authorization header carries it: no other letters, no line breaks or control characters, no spaces at either end (a trailing newline from the file it was read from is the usual cause)" }}
{{- end }}
{{- /* _repeats: a shorter text repeated (changemechangeme) */}}
{{- $repeated := false }}
{{- range $width := untilStep 1 (len $key) 1 }}
{{- if and (eq 0 (mod (len $key) $width)) (eq $key (repeat (div (len $key) $width | int) (substr 0 $width $key))) }}
{{- $repeated = true }}
{{- end }}
{{- end }}
{{- if or (lt (len $key) 16) (has (lower $key) (include "regtune.placeholderSecrets" . | fromJsonArray)) $repeated }}
{{- fail "auth.adminKey must be a random secret of at least 16 characters, not a word or a pattern repeated, or regtune's API refuses it and exits: python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one" }}
{{- end }}
{{- end }}

{{/* REGTUNE_* variables of one component: the database URL, then `config` (global, overridden
     by the component's). Call with (dict "root" $ "config" .Values.<component>.config). */}}
{{- define "regtune.env" -}}
- name: REGTUNE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "regtune.databaseSecretName" .root }}
      key: {{ include "regtune.databaseSecretKey" .root }}
{{- /* a component's value wins, 0 and false too (sprig's merge keeps a value only where it is not
     empty, so `worker.config.tenant_max_running: 0` lost to config's) */}}
{{- $config := deepCopy (default (dict) .root.Values.config) }}
{{- range $name, $value := default (dict) .config }}
{{- $_ := set $config $name $value }}
{{- end }}
{{- range $name, $value := $config }}
{{- $text := toString $value }}
{{- if and (kindIs "float64" $value) (eq (floor $value) $value) }}
{{- /* values files hold numbers as floats: 67108864 must not become 6.7108864e+07 */}}
{{- $text = toString (int64 $value) }}
{{- end }}
- name: {{ printf "REGTUNE_%s" (upper $name) }}
  value: {{ $text | quote }}
{{- end }}
{{- end }}

{{/* The workers' REGTUNE_TENANT_MAX_RUNNING (worker.config's, else config's; 0: no cap), as a
     whole number: the scaler's query keeps to the cap the workers' claims keep to. */}}
{{- define "regtune.tenantMaxRunning" -}}
{{- $cap := 0 }}
{{- if hasKey (default (dict) .Values.worker.config) "tenant_max_running" }}
{{- $cap = get .Values.worker.config "tenant_max_running" | default 0 }}
{{- else if hasKey (default (dict) .Values.config) "tenant_max_running" }}
{{- $cap = get .Values.config "tenant_max_running" | default 0 }}
{{- end }}
{{- $text := toString $cap }}
{{- if and (kindIs "float64" $cap) (eq (floor $cap) $cap) }}
{{- $text = toString (int64 $cap) }}
{{- end }}
{{- if not (regexMatch "^[0-9]+$" $text) }}
{{- fail (printf "tenant_max_running (REGTUNE_TENANT_MAX_RUNNING) must be a whole number of trials, 0 or more, got %q" $text) }}
{{- end }}
{{- $text }}
{{- end }}

{{/* A pod template's annotations: the component's podAnnotations and, on a Deployment whose pods
     read the chart's own Secret, checksum/secret, a hash of the values they read from it
     (database.url; the API's also auth.adminKey). A pod reads a Secret only as it starts, so
     without it `helm upgrade` with a new URL or key restarted no pod: old pods kept the old
     values while new ones got the new. An admin key the chart generated is kept across upgrades;
     an existingSecret the chart cannot see (after changing one: kubectl rollout restart). */}}
{{- define "regtune.podAnnotations" -}}
{{- $annotations := deepCopy (default (dict) .values.podAnnotations) }}
{{- $read := dict }}
{{- if has .component (list "api" "worker" "dashboard") }}
{{- with .root.Values.database.url }}{{ $_ := set $read "database-url" . }}{{ end }}
{{- if and (eq .component "api") (include "regtune.ownsAdminKey" .root) .root.Values.auth.adminKey }}
{{- $_ := set $read "admin-key" .root.Values.auth.adminKey }}
{{- end }}
{{- end }}
{{- if $read }}
{{- $_ := set $annotations "checksum/secret" (toJson $read | sha256sum) }}
{{- end }}
{{- with $annotations }}
{{- dict "annotations" . | toYaml }}
{{- end }}
{{- end }}

{{/* Pod-level fields every regtune pod shares. */}}
{{- define "regtune.podCommon" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A read-only root file system needs writable /tmp and /data (the image's WORKDIR). */}}
{{- define "regtune.volumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
{{- if .Values.artifacts.existingClaim }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ .Values.artifacts.existingClaim }}
{{- end }}
{{- end }}

{{- define "regtune.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if .Values.artifacts.existingClaim }}
- name: artifacts
  mountPath: /data/artifacts
{{- end }}
{{- end }}

{{- define "regtune.container" -}}
image: {{ include "regtune.image" . }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
volumeMounts:
  {{- include "regtune.volumeMounts" .root | nindent 2 }}
{{- with .values.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
