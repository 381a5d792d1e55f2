package integrity

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Dataset is event.dataset of checkpoint documents.
const Dataset = "psmtap.integrity"

// CheckpointsFile is where -w writes checkpoint documents, one a line.
const CheckpointsFile = "psmtap-checkpoints.ndjson"

// Reasons a checkpoint was written.
const (
	ReasonStart    = "start"    // the empty log, when the run starts
	ReasonInterval = "interval" // at least every Options.Interval
	ReasonRotation = "rotation" // a -w file was completed (File names it)
	ReasonShutdown = "shutdown" // the last one of the log
)

// Checkpoint is the signed statement about a log: the C2SP tlog-checkpoint
// body (origin, tree size, root hash) with extension lines for the time, the
// reason and the file completed at a rotation.
type Checkpoint struct {
	LogID  string
	Size   int64
	Root   tlog.Hash
	Time   time.Time
	Reason string
	File   string // base name of the file completed (rotation)
}

// Origin is the checkpoint's first line: one log, one origin.
func Origin(logID string) string { return "psmtap/" + logID }

// Text is the note text that is signed.
func (c *Checkpoint) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n%s\ntime %s\nreason %s\n", Origin(c.LogID), c.Size,
		base64.StdEncoding.EncodeToString(c.Root[:]), c.Time.UTC().Format(time.RFC3339Nano), c.Reason)
	if c.File != "" {
		fmt.Fprintf(&b, "file %s\n", c.File)
	}
	return b.String()
}

func parseCheckpoint(text string) (*Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 5 {
		return nil, errors.New("checkpoint: too few lines")
	}
	c := &Checkpoint{}
	var ok bool
	if c.LogID, ok = strings.CutPrefix(lines[0], "psmtap/"); !ok || !validLogID(c.LogID) {
		return nil, fmt.Errorf("checkpoint: origin %q is not psmtap/<log id>", lines[0])
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("checkpoint: tree size %q", lines[1])
	}
	c.Size = n
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return nil, fmt.Errorf("checkpoint: root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	for _, l := range lines[3:] {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "time":
			if c.Time, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, fmt.Errorf("checkpoint: time %q", v)
			}
		case "reason":
			c.Reason = v
		case "file":
			c.File = v
		}
	}
	if c.Time.IsZero() || c.Reason == "" {
		return nil, errors.New("checkpoint: no time or reason line")
	}
	return c, nil
}

// checkpointDoc is the JSON document a checkpoint is written as (a line of
// CheckpointsFile; a document of logs-psmtap.integrity-<namespace>). Only
// the signed note counts for verify; the other fields are there to search.
type checkpointDoc struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind    string `json:"kind"`
		Dataset string `json:"dataset"`
		Action  string `json:"action"`
		Reason  string `json:"reason"`
	} `json:"event"`
	Observer *struct {
		Hostname string `json:"hostname"`
	} `json:"observer,omitempty"`
	PSM struct {
		Integrity struct {
			LogID        string `json:"log_id"`
			CheckpointID string `json:"checkpoint_id"`
			TreeSize     int64  `json:"tree_size"`
			RootHash     string `json:"root_hash"`
			File         string `json:"file,omitempty"`
			Final        bool   `json:"final,omitempty"`
			Checkpoint   string `json:"checkpoint"`
		} `json:"integrity"`
	} `json:"psm"`
}

// CheckpointID is the checkpoint document's _id: the log and the
// checkpoint's number in it, zero-padded so that ids sort in order.
func CheckpointID(logID string, seq int64) string { return fmt.Sprintf("%s-%010d", logID, seq) }

func marshalCheckpoint(c *Checkpoint, id, observer string, signed []byte) ([]byte, error) {
	var d checkpointDoc
	d.Timestamp = c.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	d.Event.Kind, d.Event.Dataset, d.Event.Action, d.Event.Reason = "event", Dataset, "checkpoint", c.Reason
	if observer != "" {
		d.Observer = &struct {
			Hostname string `json:"hostname"`
		}{observer}
	}
	in := &d.PSM.Integrity
	in.LogID, in.CheckpointID, in.TreeSize, in.File = c.LogID, id, c.Size, c.File
	in.RootHash = base64.StdEncoding.EncodeToString(c.Root[:])
	in.Final = c.Reason == ReasonShutdown
	in.Checkpoint = string(signed)
	return json.Marshal(&d)
}

// signedNote takes the signed note out of a checkpoint document.
func signedNote(doc []byte) (string, error) {
	var d checkpointDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return "", err
	}
	if d.PSM.Integrity.Checkpoint == "" {
		return "", errors.New("no psm.integrity.checkpoint")
	}
	return d.PSM.Integrity.Checkpoint, nil
}

// newLogID is 8 random bytes in hex.
func newLogID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Key files that Keygen writes.
const (
	PrivateKeyFile = "psmtap.key"
	PublicKeyFile  = "psmtap.pub"
)

// Keygen makes an ed25519 key pair named name in dir: psmtap.key (the
// signer key, mode 0600, never overwritten) and psmtap.pub (the verifier
// key). It returns the two paths.
func Keygen(dir, name string) (string, string, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("key name %q: %w (no spaces, no '+')", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	priv, pub := filepath.Join(dir, PrivateKeyFile), filepath.Join(dir, PublicKeyFile)
	f, err := os.OpenFile(priv, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("signing key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pub, []byte(vkey+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return priv, pub, nil
}

// LoadSigner reads a signing key file written by Keygen. The key itself is
// never part of an error message.
func LoadSigner(path string) (note.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s: readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := note.NewSigner(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: not a key written by psmtap keygen", path)
	}
	return s, nil
}

// LoadVerifier reads a public key file written by Keygen.
func LoadVerifier(path string) (note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	v, err := note.NewVerifier(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return v, nil
}
