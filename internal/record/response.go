package record

// ActionResponse is the activity event of a response psmtap took on a
// session (terminate, warn, lockdown): every frame it sends is accounted
// for in one (docs/response.md).
const ActionResponse = "response"

// Response is what psmtap did to end or act on a session (psm.response.*),
// on the session record and on the response event.
type Response struct {
	Action    string `json:"action"`              // terminate, warn, lockdown
	Reason    string `json:"reason"`              // rule or api
	RuleID    string `json:"rule_id,omitempty"`   // the rule that asked, when reason is rule
	Triggered string `json:"triggered,omitempty"` // packet time of what triggered it (the alert's document)
	Requested string `json:"requested"`           // wall time the response was asked for
	Confirmed string `json:"confirmed,omitempty"` // packet time the tap saw the last end answer as closed
	Tries     int    `json:"tries"`               // rounds of resets sent
	Packets   int    `json:"packets"`             // frames sent (resets, probes, the warning)
	Warned    bool   `json:"warned,omitempty"`    // a warning line was injected to the client first
	Outcome   string `json:"outcome"`             // confirmed, partial, unconfirmed, ended, unsupported, failed, alert_only, dry_run, disabled; for lockdown ok, failed or timeout
	Error     string `json:"error,omitempty"`     // why sending or the hook failed
	DryRun    bool   `json:"dry_run,omitempty"`   // live ran with --response-dry-run: nothing sent, no program run
}
