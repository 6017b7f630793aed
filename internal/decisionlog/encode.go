package decisionlog

import (
	"strconv"
	"unicode/utf8"
)

// TimeFormat is the layout of the time field: RFC 3339 in UTC with
// microseconds, always six digits.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// appendLine appends the JSON line of one decision. It is written by hand
// rather than with encoding/json: see BenchmarkEncode.
func appendLine(b []byte, e *entry) []byte {
	b = append(b, `{"decision_id":`...)
	b = appendString(b, e.id)
	b = append(b, `,"time":"`...)
	b = e.at.UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","subject":{"type":`...)
	b = appendString(b, e.subjType)
	b = append(b, `,"id":`...)
	b = appendString(b, e.subjID)
	b = append(b, `},"action":{"name":`...)
	b = appendString(b, e.action)
	b = append(b, `},"resource":{"type":`...)
	b = appendString(b, e.resType)
	b = append(b, `,"id":`...)
	b = appendString(b, e.resID)
	b = append(b, `},"decision":`...)
	b = strconv.AppendBool(b, e.allow)
	b = append(b, `,"reason":`...)
	b = appendString(b, e.reason)
	if e.errmsg != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, e.errmsg)
	}
	b = append(b, `,"revision":`...)
	b = appendString(b, e.revision)
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, e.took.Microseconds(), 10)
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json does without
// HTML escaping: control characters escaped, each invalid UTF-8 byte
// replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
