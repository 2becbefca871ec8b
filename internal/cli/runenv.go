package cli

import "strings"

// The run-environment denylist: the one place that says which variables a name derived from a secret's
// path ('run --group') may never set. They change how programs start, where they find code, libraries
// or configuration, where their traffic goes, or what agent-vault itself reads. An explicit
// --env NAME=PATH is the user's choice and is not checked. docs/use-without-seeing.md lists the same.

// deniedEnvNames are refused exactly.
var deniedEnvNames = map[string]bool{
	"BASH_ENV": true, "ENV": true, "PATH": true, "IFS": true, "PS4": true, "SHELLOPTS": true, "BASHOPTS": true,
	"PROMPT_COMMAND": true, "CDPATH": true, "GLOBIGNORE": true, "HOME": true, "SHELL": true, "TMPDIR": true,
	"ZDOTDIR": true, "INPUTRC": true, "HISTFILE": true, "EDITOR": true, "VISUAL": true, "PAGER": true,
	"LESSOPEN": true, "LESSCLOSE": true, "MANPAGER": true, "BROWSER": true,
	"RUBYOPT": true, "RUBYLIB": true, "GEM_HOME": true, "GEM_PATH": true, "BUNDLE_GEMFILE": true,
	"CLASSPATH": true, "JAVA_TOOL_OPTIONS": true, "JDK_JAVA_OPTIONS": true, "_JAVA_OPTIONS": true,
	"GCONV_PATH": true, "HOSTALIASES": true, "LOCALDOMAIN": true, "RES_OPTIONS": true, "TZDIR": true,
	"OPENSSL_CONF": true, "OPENSSL_ENGINES": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"CURL_CA_BUNDLE": true, "REQUESTS_CA_BUNDLE": true, "HTTP_PROXY": true, "HTTPS_PROXY": true,
	"ALL_PROXY": true, "NO_PROXY": true, "FTP_PROXY": true, "SSH_AUTH_SOCK": true, "SSH_ASKPASS": true,
	"SUDO_ASKPASS": true, "KUBECONFIG": true, "DOCKER_HOST": true, "DOCKER_CONFIG": true,
	"EMACSLOADPATH": true, "VIMINIT": true, "EXINIT": true, "MYVIMRC": true, "TERMINFO": true,
	"SSH_ASKPASS_REQUIRE": true, "GNUPGHOME": true, "LANG": true, "LANGUAGE": true, "NLSPATH": true,
	"GOFLAGS": true, "GOPATH": true, "GOROOT": true, "GOPROXY": true, "GOENV": true, "GOTOOLCHAIN": true,
	"GODEBUG": true, "GOBIN": true, "GOCACHE": true, "GOPRIVATE": true, "GONOSUMDB": true, "GOINSECURE": true,
	"GOEXPERIMENT": true, "GOOS": true, "GOARCH": true, "CC": true, "CXX": true, "CPP": true, "CFLAGS": true,
	"CXXFLAGS": true, "CPPFLAGS": true, "LDFLAGS": true, "MAKEFLAGS": true, "MAKE": true, "RUSTFLAGS": true,
	"RUSTDOCFLAGS": true, "RUSTC": true, "RUSTC_WRAPPER": true, "PHPRC": true, "PHP_INI_SCAN_DIR": true,
	"WGETRC": true, "CURL_HOME": true, "PERLLIB": true, "KRB5CCNAME": true,
}

// deniedEnvPrefixes are refused with any suffix (so their kin are covered: LD_PRELOAD, DYLD_INSERT_LIBRARIES,
// PYTHONSTARTUP, PERL5OPT, NODE_OPTIONS, GIT_SSH_COMMAND, AGENT_VAULT_KEY, BASH_FUNC_x%%, ...).
var deniedEnvPrefixes = []string{
	"LD_", "DYLD_", "PYTHON", "PERL5", "PERL_", "NODE_", "NPM_CONFIG_", "GIT_", "AGENT_VAULT_", "BASH_FUNC_",
	"MALLOC_", "GLIBC_", "LC_", "XDG_", "JAVA_", "CARGO_", "RUSTUP_", "PIP_", "UV_", "ELECTRON_", "DOTNET_",
	"COMPLUS_", "LUA_", "KRB5_",
}

// deniedEnvReason says why a name derived from a secret's path may not be set, or "" when it may.
// name is upper case (groupEnvName makes it so).
func deniedEnvReason(name string) string {
	if deniedEnvNames[name] {
		return name + " changes how programs start or what they load"
	}
	for _, p := range deniedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return name + " is of the " + p + "* family, which changes how programs start, what they load or what agent-vault reads"
		}
	}
	return ""
}
