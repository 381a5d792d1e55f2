package dissectors

// NULFields splits b into NUL-terminated fields, as the BSD r-commands send
// their handshakes. It stops after max fields; each field must be printable
// ASCII (tab allowed) and at most maxLen bytes. complete is false when b ends
// inside a field; ok is false when b cannot be such a handshake.
func NULFields(b []byte, max, maxLen int, dst [][]byte) (fields [][]byte, complete, ok bool) {
	fields = dst[:0]
	start := 0
	for i := 0; i < len(b) && len(fields) < max; i++ {
		c := b[i]
		if c == 0 {
			fields = append(fields, b[start:i])
			start = i + 1
			continue
		}
		if (c < 0x20 && c != '\t') || c > 0x7e || i-start >= maxLen {
			return fields, false, false
		}
	}
	return fields, len(fields) == max, true
}
