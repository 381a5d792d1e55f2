package rdp

import "fmt"

// keyboardLayouts names the common keyboard layout identifiers a client
// sends in Client Core Data (2.2.1.3.2 keyboardLayout: the input locale
// identifier, [MSDN-MUI] / Windows KLID). Unknown values are shown in hex.
var keyboardLayouts = map[uint32]string{
	0x00000401: "Arabic (101)", 0x00000402: "Bulgarian", 0x00000404: "Chinese (Traditional) - US Keyboard",
	0x00000405: "Czech", 0x00000406: "Danish", 0x00000407: "German", 0x00000408: "Greek",
	0x00000409: "English - United States", 0x0000040A: "Spanish", 0x0000040B: "Finnish", 0x0000040C: "French",
	0x0000040D: "Hebrew", 0x0000040E: "Hungarian", 0x0000040F: "Icelandic", 0x00000410: "Italian",
	0x00000411: "Japanese", 0x00000412: "Korean", 0x00000413: "Dutch", 0x00000414: "Norwegian",
	0x00000415: "Polish (Programmers)", 0x00000416: "Portuguese (Brazilian ABNT)", 0x00000418: "Romanian (Legacy)",
	0x00000419: "Russian", 0x0000041A: "Croatian", 0x0000041B: "Slovak", 0x0000041D: "Swedish",
	0x0000041E: "Thai Kedmanee", 0x0000041F: "Turkish Q", 0x00000422: "Ukrainian", 0x00000424: "Slovenian",
	0x00000425: "Estonian", 0x00000426: "Latvian", 0x00000427: "Lithuanian IBM", 0x0000042A: "Vietnamese",
	0x00000439: "Devanagari - INSCRIPT", 0x00000804: "Chinese (Simplified) - US Keyboard",
	0x00000807: "Swiss German", 0x00000809: "English - United Kingdom", 0x0000080A: "Latin American",
	0x0000080C: "Belgian French", 0x00000813: "Belgian (Period)", 0x00000816: "Portuguese",
	0x0000100C: "Swiss French", 0x00000C0C: "Canadian French (Legacy)", 0x00001009: "Canadian French",
	0x00001809: "Irish", 0x00010409: "United States - Dvorak", 0x00010407: "German (IBM)",
	0x0001040A: "Spanish Variation", 0x00020409: "United States - International",
	0x00000415 | 0x00010000: "Polish (214)",
}

// KeyboardLayoutName names a keyboard layout identifier, or gives it in hex.
func KeyboardLayoutName(id uint32) string {
	if n, ok := keyboardLayouts[id]; ok {
		return n
	}
	// An IME or variant layout (high word set): the language of its low word.
	if n, ok := keyboardLayouts[id&0xffff]; ok && id > 0xffff {
		return fmt.Sprintf("%s (best guess for 0x%08X)", n, id)
	}
	return fmt.Sprintf("0x%08X", id)
}

// clientBuilds names the Windows releases behind common clientBuild numbers.
var clientBuilds = map[uint32]string{
	2195: "Windows 2000", 2600: "Windows XP", 3790: "Windows Server 2003", 6000: "Windows Vista",
	6001: "Windows Vista SP1 / Server 2008", 6002: "Windows Vista SP2 / Server 2008 SP2",
	7600: "Windows 7 / Server 2008 R2", 7601: "Windows 7 SP1 / Server 2008 R2 SP1",
	9200: "Windows 8 / Server 2012", 9600: "Windows 8.1 / Server 2012 R2",
}
