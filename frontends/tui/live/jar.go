package live

import "github.com/startos-go/startos/rpc"

// FileJar is the cookie jar start-cli and start-tui share
// (~/.startos/cookies.json), so a login from either serves both.
type FileJar = rpc.FileJar
