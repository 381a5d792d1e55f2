package sigma

import (
	"encoding/json"
	"fmt"
	"sort"
)

// FlatEvent is an Event read from a JSON document: nested objects become
// dotted names ("source.ip"), arrays several values.
type FlatEvent struct {
	fields map[string][]any
	keys   []string // sorted, for keyword search in a stable order
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
	e := &FlatEvent{fields: map[string][]any{}}
	e.add("", m)
	for k := range e.fields {
		e.keys = append(e.keys, k)
	}
	sort.Strings(e.keys)
	return e
}

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
	case nil:
	default:
		e.fields[prefix] = append(e.fields[prefix], x)
	}
}

// Values implements Event.
func (e *FlatEvent) Values(field string) []any { return e.fields[field] }

// All implements Event: every string value, in field-name order.
func (e *FlatEvent) All(fn func(string) bool) bool {
	for _, k := range e.keys {
		for _, v := range e.fields[k] {
			if s, ok := v.(string); ok && fn(s) {
				return true
			}
		}
	}
	return false
}
