package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The scripts ask start-cli itself for candidates through urfave/cli's
// hidden --generate-bash-completion flag.
const bashCompletion = `# start-cli bash completion; load with: source <(start-cli completion bash)
_start_cli_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  COMPREPLY=($(compgen -W "$("${words[0]}" "${words[@]:1}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o default -F _start_cli_complete start-cli
`

const zshCompletion = `#compdef start-cli
# start-cli zsh completion; load with: source <(start-cli completion zsh)
_start_cli() {
  local -a opts
  opts=("${(@f)$(${words[1]} ${words[@]:1:$CURRENT-2} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts
}
compdef _start_cli start-cli
`

func completionCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "SHELL",
		Action: func(cCtx *cli.Context) error {
			w := cCtx.App.Writer
			switch cCtx.Args().First() {
			case "bash":
				_, err := fmt.Fprint(w, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(w, zshCompletion)
				return err
			case "fish":
				script, err := app.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(w, script)
				return err
			}
			return usageError("usage: start-cli completion bash|zsh|fish")
		},
	}
}
