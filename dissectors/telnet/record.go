package telnet

import "strconv"

// Fields is the "telnet" object of the record (SCHEMA.md, Telnet).
type Fields struct {
	TerminalType   string   `json:"terminal_type,omitempty"`
	TerminalSpeed  string   `json:"terminal_speed,omitempty"`
	Window         *Window  `json:"window,omitempty"`
	Resizes        int      `json:"resizes,omitempty"`
	Options        []string `json:"options,omitempty"`
	Environ        []string `json:"environ,omitempty"`
	Authentication string   `json:"authentication,omitempty"`
	Encryption     bool     `json:"encryption,omitempty"`
}

// Window is the last NAWS size.
type Window struct {
	Cols int `json:"cols"`
	Rows int `json:"rows"`
}

func (f *Fields) empty() bool {
	return f.TerminalType == "" && f.TerminalSpeed == "" && f.Window == nil && len(f.Options) == 0 &&
		len(f.Environ) == 0 && f.Authentication == "" && !f.Encryption
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	s := f.TerminalType
	if f.Window != nil {
		s += " " + strconv.Itoa(f.Window.Cols) + "x" + strconv.Itoa(f.Window.Rows)
	}
	return s
}
