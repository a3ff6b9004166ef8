"""The completion scripts that ``lightbus completion bash|zsh|fish`` prints.

Each one asks ``lightbus __complete`` for the candidates of the word under the cursor
(see :mod:`lightbus_tools.completion.command`) and falls back to file names when there
are none. A candidate ending in ``=`` (a ``key=`` parameter) takes no space after it.
"""

from __future__ import annotations

BASH = r"""# lightbus completion for bash. Load it in ~/.bashrc with:
#   eval "$(lightbus completion bash)"
_lightbus_complete() {
    local item
    COMPREPLY=()
    while IFS= read -r item; do
        COMPREPLY+=("${item%%$'\t'*}")
    done < <(lightbus __complete --line "${COMP_LINE:0:COMP_POINT}" 2>/dev/null)
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -o default -F _lightbus_complete lightbus
"""

ZSH = r"""#compdef lightbus
# lightbus completion for zsh. Load it in ~/.zshrc, after compinit, with:
#   eval "$(lightbus completion zsh)"
# or save it as _lightbus in a directory of your $fpath.
_lightbus() {
    local -a described nospace
    local line value
    for line in "${(@f)$(lightbus __complete -- "${(@Q)words[2,CURRENT]}" 2>/dev/null)}"; do
        [[ -n $line ]] || continue
        value=${line%%$'\t'*}
        if [[ $value == *= ]]; then
            nospace+=("$value")
        elif [[ $line == *$'\t'* ]]; then
            described+=("${value//:/\\:}:${line#*$'\t'}")
        else
            described+=("${value//:/\\:}")
        fi
    done
    if (( ${#described} + ${#nospace} == 0 )); then
        _files
        return
    fi
    (( ${#nospace} )) && compadd -S '' -- "${nospace[@]}"
    (( ${#described} )) && _describe -t values lightbus described
    return 0
}
if [[ "${funcstack[1]}" == "_lightbus" ]]; then
    _lightbus "$@"
else
    compdef _lightbus lightbus
fi
"""

FISH = r"""# lightbus completion for fish. Load it with:
#   lightbus completion fish | source
# or save it as ~/.config/fish/completions/lightbus.fish
function __lightbus_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l current (commandline -ct)
    set -l found (lightbus __complete -- $words "$current" 2>/dev/null)
    if test (count $found) -eq 0
        __fish_complete_path "$current"
    else
        printf '%s\n' $found
    end
end
complete -c lightbus -f -a '(__lightbus_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}
