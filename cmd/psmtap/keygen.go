package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/integrity"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "make an ed25519 key pair to sign the output with (read/live --signing-key DIR/psmtap.key; verify --key DIR/psmtap.pub)",
		Description: "Writes DIR/psmtap.key (the signing key, mode 0600; never overwritten, never printed) and\n" +
			"DIR/psmtap.pub (the public key an auditor verifies with). Keep a copy of the public key\n" +
			"away from the sensor: see docs/integrity.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Required: true, Usage: "write the two key files into `DIR`"},
			&cli.StringFlag{Name: "name", Usage: "key name in signatures (default psmtap-<this host's name>)"},
		},
		Action: func(c *cli.Context) error {
			name := c.String("name")
			if name == "" {
				h, _ := os.Hostname()
				name = "psmtap-" + strings.Map(func(r rune) rune {
					if r <= ' ' || r == '+' || r > '~' {
						return '_'
					}
					return r
				}, h)
			}
			priv, pub, err := integrity.Keygen(c.String("out"), name)
			if err != nil {
				return cli.Exit("psmtap keygen: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "signing key %s (keep it on the sensor, mode 0600)\npublic key  %s (give it to the auditor)\n", priv, pub)
			return nil
		},
	}
}

// signedOutput puts the integrity stage in front of the sink when
// --signing-key is given (and changes nothing otherwise).
func signedOutput(c *cli.Context, sink index.Sink) (index.Sink, error) {
	path := c.String("signing-key")
	if path == "" {
		return sink, nil
	}
	if _, ok := sink.(integrity.CheckpointWriter); !ok {
		sink.Close()
		return nil, cli.Exit("--signing-key needs -w DIR or --output es: the checkpoints are kept there", 2)
	}
	signer, err := integrity.LoadSigner(path)
	if err != nil {
		sink.Close()
		return nil, cli.Exit("psmtap: "+err.Error(), 2)
	}
	obs := c.String("observer")
	if obs == "" {
		obs, _ = os.Hostname()
	}
	st, err := integrity.New(sink, integrity.Options{Signer: signer, RecordingsDir: c.String("recordings"),
		Observer: obs, Logger: newLogger(c.String("log-level"))})
	if err != nil {
		sink.Close()
		return nil, cli.Exit("psmtap: "+err.Error(), 1)
	}
	return st, nil
}
