// Command apidoc prints docs/api.md, generated from the RPC method table.
package main

import (
	"os"

	"github.com/startos-go/startos/rpc"
)

func main() {
	os.Stdout.Write(rpc.Markdown())
}
