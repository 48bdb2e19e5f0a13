package api

import "github.com/keywarden/keywarden/appliance/users"

var (
	anyState    = []State{Unprovisioned, Locked, Operational, Failed}
	operational = []State{Operational}

	admin     = []users.Role{users.Administrator}
	operator  = []users.Role{users.Operator}
	adminOrOp = []users.Role{users.Administrator, users.Operator}
)

const (
	typeJSON = "application/json"
	typePEM  = "application/x-pem-file"
	typeOcts = "application/octet-stream"
)

// routes is the API: one row per endpoint, with who may call it and when.
func (s *Server) routes() []route {
	op := func(method, path string, rs []users.Role, rootOnly bool, produces string, h func(*call) error) route {
		return route{method: method, path: path, states: operational, access: roles, roles: rs, rootOnly: rootOnly, produces: produces, handle: h}
	}
	return []route{
		{method: "GET", path: "/info", states: anyState, produces: typeJSON, handle: handleInfo},
		{method: "GET", path: "/health/alive", states: []State{Locked, Unprovisioned}, handle: handleEmpty},
		{method: "GET", path: "/health/ready", states: operational, handle: handleEmpty},
		{method: "GET", path: "/health/state", states: anyState, produces: typeJSON, handle: handleState},
		{method: "GET", path: "/health/diagnose", states: anyState, access: adminWhenOperational, produces: typeJSON, handle: handleDiagnose},
		{method: "POST", path: "/provision", states: []State{Unprovisioned}, handle: handleProvision},
		{method: "POST", path: "/unlock", states: []State{Locked}, handle: handleUnlock},
		op("POST", "/lock", admin, true, "", handleLock),
		op("POST", "/random", operator, false, typeJSON, handleRandom),
		op("GET", "/metrics", []users.Role{users.Metrics}, false, typeJSON, handleMetrics),

		op("GET", "/users", admin, false, typeJSON, handleListUsers),
		op("POST", "/users", admin, false, typeJSON, handleCreateUserGenerated),
		op("GET", "/users/{UserID}", adminOrOp, false, typeJSON, handleGetUser),
		op("PUT", "/users/{UserID}", admin, false, "", handlePutUser),
		op("POST", "/users/{UserID}", admin, false, typeJSON, handleCreateUserInNamespace),
		op("DELETE", "/users/{UserID}", admin, false, "", handleDeleteUser),
		op("POST", "/users/{UserID}/passphrase", adminOrOp, false, "", handleUserPassphrase),
		op("GET", "/users/{UserID}/tags", adminOrOp, false, typeJSON, handleUserTags),
		op("PUT", "/users/{UserID}/tags/{Tag}", admin, false, "", handleAddUserTag),
		op("DELETE", "/users/{UserID}/tags/{Tag}", admin, false, "", handleRemoveUserTag),

		op("GET", "/namespaces", admin, true, typeJSON, handleListNamespaces),
		op("PUT", "/namespaces/{NamespaceID}", admin, true, "", handleCreateNamespace),
		op("DELETE", "/namespaces/{NamespaceID}", admin, true, "", handleDeleteNamespace),

		op("GET", "/keys", adminOrOp, false, typeJSON, handleListKeys),
		op("POST", "/keys", admin, false, typeJSON, handleImportKeyGenerated),
		op("POST", "/keys/generate", admin, false, typeJSON, handleGenerateKey),
		op("GET", "/keys/{KeyID}", adminOrOp, false, typeJSON, handleGetKeyOrPrefix),
		op("PUT", "/keys/{KeyID}", admin, false, "", handlePutKey),
		op("DELETE", "/keys/{KeyID}", admin, false, "", handleDeleteKey),
		op("PUT", "/keys/{KeyID}/label", admin, false, "", handleSetLabel),
		op("DELETE", "/keys/{KeyID}/label", admin, false, "", handleDeleteLabel),
		op("GET", "/keys/{KeyID}/public.pem", adminOrOp, false, typePEM, handlePublicPEM),
		op("POST", "/keys/{KeyID}/csr.pem", adminOrOp, false, typePEM, handleKeyCSR),
		op("POST", "/keys/{KeyID}/sign", operator, false, typeJSON, handleSign),
		op("POST", "/keys/{KeyID}/decrypt", operator, false, typeJSON, handleDecrypt),
		op("POST", "/keys/{KeyID}/encrypt", operator, false, typeJSON, handleEncrypt),
		op("GET", "/keys/{KeyID}/cert", adminOrOp, false, typeOcts, handleGetCert),
		op("PUT", "/keys/{KeyID}/cert", admin, false, "", handlePutCert),
		op("DELETE", "/keys/{KeyID}/cert", admin, false, "", handleDeleteCert),
		op("POST", "/keys/{KeyID}/move", admin, false, typeJSON, handleMoveKey),
		op("PUT", "/keys/{KeyID}/restrictions/tags/{Tag}", admin, false, "", handleAddKeyTag),
		op("DELETE", "/keys/{KeyID}/restrictions/tags/{Tag}", admin, false, "", handleRemoveKeyTag),

		op("PUT", "/config/unlock-passphrase", admin, true, "", handleUnlockPassphrase),
		op("PUT", "/config/backup-passphrase", admin, true, "", handleBackupPassphrase),
		op("GET", "/config/unattended-boot", admin, true, typeJSON, handleGetUnattended),
		op("PUT", "/config/unattended-boot", admin, true, "", handleSetUnattended),
		op("GET", "/config/tls/public.pem", admin, true, typePEM, handleTLSPublic),
		op("GET", "/config/tls/cert.pem", admin, true, typePEM, handleTLSCert),
		op("PUT", "/config/tls/cert.pem", admin, true, "", handleSetTLSCert),
		op("POST", "/config/tls/csr.pem", admin, true, typePEM, handleTLSCSR),
		op("POST", "/config/tls/generate", admin, true, "", handleTLSGenerate),
		op("GET", "/config/tls/cluster-ca.pem", admin, true, typePEM, handleGetClusterCA),
		op("GET", "/cluster/members", admin, true, typeJSON, handleClusterMembers),
		{method: "GET", path: "/cluster/status", states: anyState, access: adminWhenOperational, rootOnly: true, produces: typeJSON, handle: handleClusterStatus},
		op("POST", "/cluster/members", admin, true, typeJSON, handleAddClusterMember),
		op("POST", "/cluster/members/{MemberID}/promote", admin, true, "", handlePromoteClusterMember),
		op("PUT", "/cluster/members/{MemberID}", admin, true, "", handleUpdateClusterMember),
		op("DELETE", "/cluster/members/{MemberID}", admin, true, "", handleRemoveClusterMember),
		op("POST", "/cluster/join", admin, true, "", handleJoinCluster),
		op("POST", "/cluster/ca/generate", admin, true, typePEM, handleGenerateClusterCA),
		op("POST", "/cluster/ca/sign", admin, true, typePEM, handleSignPeerCSR),
		{method: "POST", path: "/cluster/force-new", states: []State{Failed}, access: destructive, rootOnly: true, handle: handleForceNewCluster},
		op("PUT", "/config/tls/cluster-ca.pem", admin, true, "", handleSetClusterCA),
		op("GET", "/config/network", admin, true, typeJSON, handleGetNetwork),
		op("PUT", "/config/network", admin, true, typeJSON, handleSetNetwork),
		op("POST", "/config/network/confirm", admin, true, "", handleConfirmNetwork),
		op("GET", "/config/logging", admin, true, typeJSON, handleGetLogging),
		op("PUT", "/config/logging", admin, true, "", handleSetLogging),
		op("GET", "/config/ntp", admin, true, typeJSON, handleGetNTP),
		op("PUT", "/config/ntp", admin, true, "", handleSetNTP),
		op("GET", "/config/time", admin, true, typeJSON, handleGetTime),
		op("PUT", "/config/time", admin, true, "", handleSetTime),

		op("GET", "/system/info", admin, true, typeJSON, handleSystemInfo),
		op("POST", "/system/backup", []users.Role{users.Backup}, true, typeOcts, handleBackup),
		{method: "POST", path: "/system/restore", states: []State{Unprovisioned, Operational}, access: adminWhenOperational, rootOnly: true, handle: handleRestore},
		{method: "POST", path: "/system/reboot", states: []State{Operational, Failed}, access: destructive, rootOnly: true, handle: handleReboot},
		{method: "POST", path: "/system/shutdown", states: []State{Operational, Locked, Failed}, access: destructive, rootOnly: true, handle: handleShutdown},
		{method: "POST", path: "/system/factory-reset", states: []State{Operational, Locked, Failed}, access: destructive, rootOnly: true, handle: handleFactoryReset},
	}
}
