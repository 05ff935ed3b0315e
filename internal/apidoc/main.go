// Command apidoc prints docs/api.md, generated from the RPC method table
// (rpc/server.Table). With -table FILE it writes rpc.Table's source instead
// (rpc/table_gen.go), which the clients and start-cli read; it writes FILE
// itself, after compiling, because the file is part of what it compiles.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/rpc/apidoc"
	"github.com/startos-go/startos/rpc/server"
)

func main() {
	table := flag.String("table", "", "write rpc.Table's Go source to this file instead of printing docs/api.md")
	flag.Parse()
	if *table != "" {
		if err := atomicfile.Write(*table, apidoc.GoTable(server.Descriptions()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Stdout.Write(apidoc.Markdown(server.Descriptions()))
}
