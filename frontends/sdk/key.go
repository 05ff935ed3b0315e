package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/s9pk"
)

func keyPath(c *cli.Context) (string, error) {
	if p := c.String("developer-key-path"); p != "" {
		return p, nil
	}
	return s9pk.DefaultKeyPath()
}

func loadKey(c *cli.Context) (ed25519.PrivateKey, error) {
	p, err := keyPath(c)
	if err != nil {
		return nil, err
	}
	return s9pk.LoadKey(p)
}

func (e *env) keyInit(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return usageError("key init takes no arguments")
	}
	p, err := keyPath(c)
	if err != nil {
		return err
	}
	key, err := s9pk.CreateKey(p)
	if err != nil {
		return err
	}
	pub, err := s9pk.MarshalPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Created the developer key at %s\n", p)
	_, err = e.stdout.Write(pub)
	return err
}

func (e *env) keyShow(c *cli.Context) error {
	jsonOut, err := checkFormat(c)
	if err != nil {
		return err
	}
	if c.Args().Len() > 0 {
		return usageError("key show takes no arguments")
	}
	key, err := loadKey(c)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	pemBytes, err := s9pk.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if !jsonOut {
		_, err = e.stdout.Write(pemBytes)
		return err
	}
	p, _ := keyPath(c)
	return writeJSON(e.stdout, map[string]string{
		"path":      p,
		"publicKey": string(pemBytes),
		"ed25519":   base64.StdEncoding.EncodeToString(pub),
	})
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
