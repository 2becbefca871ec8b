module github.com/agent-vault/agent-vault

go 1.26.8

require (
	filippo.io/age v1.3.2
	golang.org/x/sys v0.50.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	filippo.io/hpke v0.4.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
)
