package telnet

import (
	"strconv"
)

// More Telnet command bytes (RFC 854) and option codes (IANA telnet-options).
const (
	NOP = 241
	DM  = 242
	GA  = 249

	OptBinary     = 0  // RFC 856
	OptEcho       = 1  // RFC 857
	OptSGA        = 3  // RFC 858
	OptStatus     = 5  // RFC 859
	OptTimingMark = 6  // RFC 860
	OptTTYPE      = 24 // RFC 1091
	OptNAWS       = 31 // RFC 1073
	OptTSPEED     = 32 // RFC 1079
	OptLFLOW      = 33 // RFC 1372
	OptLinemode   = 34 // RFC 1184
	OptXDisplay   = 35 // RFC 1096
	OptEnviron    = 36 // RFC 1408
	OptAuth       = 37 // RFC 2941
	OptEncrypt    = 38 // RFC 2946
	OptNewEnviron = 39 // RFC 1572
)

// MaxSub caps one subnegotiation's parameters; longer ones are cut
// (anomaly telnet.subnegotiation_too_long). Real ones are a few dozen bytes.
const MaxSub = 1024

var optionNames = map[byte]string{
	OptBinary: "binary", OptEcho: "echo", OptSGA: "suppress-go-ahead", OptStatus: "status",
	OptTimingMark: "timing-mark", OptTTYPE: "terminal-type", OptNAWS: "naws", OptTSPEED: "terminal-speed",
	OptLFLOW: "remote-flow-control", OptLinemode: "linemode", OptXDisplay: "x-display-location",
	OptEnviron: "environ", OptAuth: "authentication", OptEncrypt: "encrypt", OptNewEnviron: "new-environ",
	17: "extended-ascii", 18: "logout", 19: "byte-macro", 20: "data-entry-terminal", 25: "end-of-record",
	44: "com-port-control", 46: "start-tls", 47: "kermit", 255: "extended-options-list",
}

// OptionName is the option's name as telnet.options lists it.
func OptionName(o byte) string {
	if n, ok := optionNames[o]; ok {
		return n
	}
	return "option-" + strconv.Itoa(int(o))
}

// Handler receives what the NVT decoder finds. Slices are borrowed.
type Handler interface {
	// Data is application data with IAC escapes removed.
	Data(b []byte)
	// Negotiate is IAC WILL/WONT/DO/DONT option.
	Negotiate(cmd, opt byte)
	// Sub is a complete subnegotiation IAC SB opt ... IAC SE (parameters unescaped).
	Sub(opt byte, params []byte)
	// Command is any other IAC command (NOP, GA, AYT, IP, ...).
	Command(cmd byte)
}

// decoder states
const (
	sData = iota
	sIAC
	sNeg
	sSBOpt
	sSB
	sSBIAC
)

// Decoder is the NVT byte-stream decoder (RFC 854 "The NVT", RFC 855
// subnegotiation) for one direction. It keeps state across Feed calls, so
// commands and subnegotiations may be split across segments anywhere.
type Decoder struct {
	state uint8
	cmd   byte
	sbOpt byte
	sb    []byte
	// Anomalies seen so far.
	SubTooLong bool // a subnegotiation longer than MaxSub (cut)
	BadSub     bool // IAC followed by something other than SE or IAC inside a subnegotiation
	BadCommand bool // IAC followed by a byte that is no command
}

var iacByte = []byte{IAC}

// InSub reports whether the stream stopped inside a subnegotiation.
func (d *Decoder) InSub() bool { return d.state >= sSBOpt }

// Reset drops a partial command (after a capture gap).
func (d *Decoder) Reset() { d.state, d.sb = sData, d.sb[:0] }

// Feed decodes b, calling h for each piece in order.
func (d *Decoder) Feed(b []byte, h Handler) {
	start := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch d.state {
		case sData:
			if c == IAC {
				if i > start {
					h.Data(b[start:i])
				}
				d.state = sIAC
			}
			continue
		case sIAC:
			switch {
			case c == IAC:
				h.Data(iacByte)
				d.state = sData
			case c >= WILL && c <= DONT:
				d.cmd, d.state = c, sNeg
			case c == SB:
				d.state = sSBOpt
			case c >= SE && c < SB:
				h.Command(c)
				d.state = sData
			default:
				d.BadCommand = true
				d.state = sData
			}
		case sNeg:
			h.Negotiate(d.cmd, c)
			d.state = sData
		case sSBOpt:
			d.sbOpt, d.sb, d.state = c, d.sb[:0], sSB
		case sSB:
			if c == IAC {
				d.state = sSBIAC
			} else {
				d.sbByte(c)
			}
		case sSBIAC:
			switch c {
			case SE:
				h.Sub(d.sbOpt, d.sb)
				d.state = sData
			case IAC:
				d.sbByte(IAC)
				d.state = sSB
			default:
				// RFC 855 leaves this undefined; servers treat it as the end of
				// the subnegotiation and a new command.
				d.BadSub = true
				h.Sub(d.sbOpt, d.sb)
				d.state = sIAC
				i-- // reread c as a command
			}
		}
		start = i + 1
	}
	if d.state == sData && start < len(b) {
		h.Data(b[start:])
	}
}

func (d *Decoder) sbByte(c byte) {
	if len(d.sb) >= MaxSub {
		d.SubTooLong = true
		return
	}
	if d.sb == nil {
		d.sb = make([]byte, 0, 64)
	}
	d.sb = append(d.sb, c)
}

// ParseTerminalType reads TERMINAL-TYPE IS name (RFC 1091).
func ParseTerminalType(p []byte) (string, bool) {
	if len(p) < 2 || p[0] != 0 || len(p) > 41 {
		return "", false
	}
	for _, c := range p[1:] {
		if c < 0x21 || c > 0x7e {
			return "", false
		}
	}
	return string(p[1:]), true
}

// ParseNAWS reads a window size (RFC 1073): width then height, 16 bits each.
func ParseNAWS(p []byte) (cols, rows int, ok bool) {
	if len(p) != 4 {
		return 0, 0, false
	}
	return int(p[0])<<8 | int(p[1]), int(p[2])<<8 | int(p[3]), true
}

// ParseTerminalSpeed reads TERMINAL-SPEED IS "tx,rx" (RFC 1079).
func ParseTerminalSpeed(p []byte) (string, bool) {
	if len(p) < 2 || p[0] != 0 || len(p) > 32 {
		return "", false
	}
	for _, c := range p[1:] {
		if (c < '0' || c > '9') && c != ',' {
			return "", false
		}
	}
	return string(p[1:]), true
}

// NEW-ENVIRON codes (RFC 1572).
const (
	envIS      = 0
	envSEND    = 1
	envINFO    = 2
	envVAR     = 0
	envVALUE   = 1
	envESC     = 2
	envUSERVAR = 3
)

// maxEnvVars bounds what one session keeps.
const maxEnvVars = 32

// ParseEnviron reads NEW-ENVIRON IS/INFO (RFC 1572) as "NAME=value" pairs
// ("NAME" alone when no value was sent). SEND requests yield nothing.
func ParseEnviron(p []byte, out []string) []string {
	if len(p) == 0 || p[0] != envIS && p[0] != envINFO {
		return out
	}
	var name, val []byte
	inVal, have := false, false
	flush := func() {
		if have && len(name) > 0 && len(out) < maxEnvVars {
			s := string(name)
			if inVal {
				s += "=" + string(val)
			}
			out = append(out, s)
		}
		name, val, inVal, have = name[:0], val[:0], false, false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch c {
		case envVAR, envUSERVAR:
			flush()
			have = true
		case envVALUE:
			inVal = true
		case envESC:
			if i+1 < len(p) {
				i++
				c = p[i]
			}
			fallthrough
		default:
			if !have {
				continue
			}
			if inVal {
				val = append(val, c)
			} else {
				name = append(name, c)
			}
		}
	}
	flush()
	return out
}

// Authentication types (RFC 2941, IANA).
var authTypes = map[byte]string{0: "null", 1: "kerberos_v4", 2: "kerberos_v5", 3: "spx", 4: "mink", 5: "srp",
	6: "rsa", 7: "ssl", 10: "loki", 11: "ssa", 12: "kea_sj", 13: "kea_sj_integ", 14: "dss", 15: "ntlm"}

// ParseAuthIs reads AUTHENTICATION IS type modifier ... (RFC 2941): the
// authentication type the client started, by name.
func ParseAuthIs(p []byte) (string, bool) {
	if len(p) < 3 || p[0] != 0 {
		return "", false
	}
	if n, ok := authTypes[p[1]]; ok {
		return n, true
	}
	return "type-" + strconv.Itoa(int(p[1])), true
}
