package sigma

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// FlatEvent is an Event read from a JSON document: nested objects become
// dotted names ("source.ip"), arrays several values.
type FlatEvent struct {
	fields map[string][]any
	keys   []string // sorted, for keyword search in a stable order
}

// Str is a string value that lower-cases itself once: a hundred rules
// comparing the same field case-insensitively pay for it once.
type Str struct {
	S     string
	low   string
	lowOK bool
}

// Lower returns S in lower case.
func (s *Str) Lower() string {
	if !s.lowOK {
		s.low, s.lowOK = strings.ToLower(s.S), true
	}
	return s.low
}

// NewFlatEvent returns an empty event to fill with Add.
func NewFlatEvent() *FlatEvent { return &FlatEvent{fields: make(map[string][]any, 32)} }

// Add appends a value to a field: a string, float64 or bool (other numbers
// are converted); nil is skipped.
func (e *FlatEvent) Add(field string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		v = &Str{S: x}
	case int:
		v = float64(x)
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case uint16:
		v = float64(x)
	}
	if _, ok := e.fields[field]; !ok {
		e.keys = nil // re-sorted on the next keyword search
	}
	e.fields[field] = append(e.fields[field], v)
}

// FromJSON flattens a JSON object.
func FromJSON(doc []byte) (*FlatEvent, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return FromMap(m), nil
}

// FromMap flattens a decoded JSON object.
func FromMap(m map[string]any) *FlatEvent {
	e := NewFlatEvent()
	e.AddMap("", m)
	return e
}

// AddMap adds a decoded JSON object under prefix (dotted names).
func (e *FlatEvent) AddMap(prefix string, m map[string]any) { e.add(prefix, m) }

func (e *FlatEvent) add(prefix string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			e.add(name, sub)
		}
	case []any:
		for _, sub := range x {
			e.add(prefix, sub)
		}
	default:
		e.Add(prefix, x)
	}
}

// Values implements Event.
func (e *FlatEvent) Values(field string) []any { return e.fields[field] }

// All implements Event: every string value, in field-name order.
func (e *FlatEvent) All(fn func(string) bool) bool {
	if len(e.keys) != len(e.fields) {
		e.keys = e.keys[:0]
		for k := range e.fields {
			e.keys = append(e.keys, k)
		}
		sort.Strings(e.keys)
	}
	for _, k := range e.keys {
		for _, v := range e.fields[k] {
			if s, ok := v.(*Str); ok && fn(s.S) {
				return true
			}
		}
	}
	return false
}

// Text renders a field value as rules compare it.
func Text(v any) string { return text(v) }

// Each calls fn with every field value.
func (e *FlatEvent) Each(fn func(field string, v any)) {
	for k, vs := range e.fields {
		for _, v := range vs {
			fn(k, v)
		}
	}
}
