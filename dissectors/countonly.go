package dissectors

import "github.com/psmtap/psmtap/internal/record"

// CountOnly is a session that wants no content: the engine counts the flow's
// packets and bytes and nothing else. Protocols whose full parser has not
// landed yet use it, so their sessions are already detected and recorded.
type CountOnly struct{}

// Feed implements Session.
func (CountOnly) Feed(Direction, []byte, int64) Status { return Done }

// Gap implements Session.
func (CountOnly) Gap(Direction, int, int64) {}

// Close implements Session.
func (CountOnly) Close(*record.Record) {}
