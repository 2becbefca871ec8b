package vault

import (
	"bytes"
	"fmt"
	"strings"
)

// Agents that bring their own keys (docs/format.md section 3.5): the agent makes its key pair
// (NewAgentKeyFile, `agent-vault keygen`), hands the owner its recipient only, and the owner adds it
// (AddAgentRecipient). The owner never sees the private key, so such an agent has no escrow: its root
// entry's escrow_sha256 is "" and no private.key.escrow file exists. Recovery is a new key from the
// agent (RecoverAgentRecipient).

// NoEscrowError is the refusal of an escrow operation (restore-agent, recover-agent without a new
// recipient) for an agent that brought its own key.
type NoEscrowError struct{ Agent string }

// Error says why the owner cannot restore or replace the agent's key, and what the agent does instead.
func (e *NoEscrowError) Error() string {
	return fmt.Sprintf("agent %s brought its own key (add-agent --recipient): the owner holds no copy of it (no escrow), so it cannot be restored or replaced by the owner; the agent makes a new key (agent-vault keygen) and sends its recipient, then: agent-vault recover-agent %s --recipient age1…", e.Agent, e.Agent)
}

// HasEscrow reports whether the agent's key is escrowed to the owner (false for an agent that brought its
// own key).
func (a RootAgent) HasEscrow() bool { return a.EscrowSHA256 != "" }

// NewAgentKeyFile returns the content of a fresh agent key file without pins, and its recipient. The
// agent adds the pins its owner hands it with `agent-vault pin KEYFILE --pins FILE`.
func NewAgentKeyFile() (content []byte, recipient string, err error) {
	return NewAgentKeyFileOf(KeyX25519)
}

// NewAgentKeyFileOf is NewAgentKeyFile for a key of the given kind: KeyHybrid makes a post-quantum
// (AGE-SECRET-KEY-PQ-1, age1pq1…) key, the only kind a post-quantum vault accepts (docs/format.md 3.8).
func NewAgentKeyFileOf(kind KeyKind) (content []byte, recipient string, err error) {
	id, err := generateIdentity(kind)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# agent-vault agent key (made by agent-vault keygen; give the owner only the public key)\n")
	fmt.Fprintf(&b, "# created: %s\n# public key: %s\n%s\n", now(), id.recipient, id.secret)
	return b.Bytes(), id.recipient, nil
}

// userRecipient checks a recipient typed by a user (docs/format.md section 3.1): either letter case is
// accepted; the result is in lower case.
func userRecipient(s string) (string, error) {
	r := strings.ToLower(strings.TrimSpace(s))
	if !validRecipient(r) && !validPluginRecipient(r) && !validHybridRecipient(r) {
		return "", newErr(KindUsage, "--recipient %q is not an age X25519 recipient (age1 followed by 58 Bech32 characters; agent-vault keygen prints one), an age plugin recipient (age1NAME1…) nor a post-quantum one (age1pq1…)", shortRecipient(s))
	}
	return r, nil
}

// checkNewAgent refuses an agent name that is invalid, taken, or differs from an existing agent's only
// in case.
func (o *Owner) checkNewAgent(name string) error {
	if err := userSegment("agent", name); err != nil {
		return err
	}
	if _, ok := o.Root.Agents[name]; ok {
		return newErr(KindError, "agent %q already exists; use recover-agent to give it a new key", name)
	}
	if other := caseTwin(name, o.Root.AgentNames()); other != "" {
		return newErr(KindUsage, "agent %q differs from agent %q only in case, which collides on case-insensitive file systems", name, other)
	}
	return nil
}

// checkRecipientFree refuses a recipient that the owner or another agent than name already has: a reader
// could not tell who it is (docs/format.md section 4).
func (o *Owner) checkRecipientFree(name, rc string) error {
	if k, _ := validRecipientOf(rc); k != RecipientKind(o.Root.Owner.Recipient) {
		vk := RecipientKind(o.Root.Owner.Recipient)
		hint := "agent-vault keygen makes a classic key"
		if vk == KeyHybrid {
			hint = "agent-vault keygen --pq makes a post-quantum key"
		}
		return newErr(KindUsage, "recipient %s is a %s key, but this vault uses %s keys: they never mix (%s)", shortRecipient(rc), k, vk, hint)
	}
	if rc == o.Root.Owner.Recipient {
		return newErr(KindUsage, "recipient %s is the owner's own; an agent needs a key of its own (agent-vault keygen)", rc)
	}
	if admin, _, ok := adminByRecipient(o.Root, rc); ok {
		return newErr(KindUsage, "recipient %s is admin %s's; an agent needs a key of its own (agent-vault keygen)", rc, admin)
	}
	if other, ok := o.Root.AgentByRecipient(rc); ok && other != name {
		return newErr(KindUsage, "recipient %s is already agent %s's; every agent needs a key of its own", rc, other)
	}
	return nil
}

// AddAgentRecipient adds an agent, with no groups, whose key pair the agent made itself: the vault holds
// only its recipient, and no escrow.
func (o *Owner) AddAgentRecipient(name, recipient string) error {
	if err := o.checkNewAgent(name); err != nil {
		return err
	}
	rc, err := userRecipient(recipient)
	if err != nil {
		return err
	}
	if err := o.checkRecipientFree(name, rc); err != nil {
		return err
	}
	t := o.begin("add agent " + name + " with its own key")
	setAgentRecipient(t, name, rc)
	return o.finish(t)
}

// RecoverAgentRecipient gives an agent the recipient of a new key pair the agent made itself, drops its
// escrow if it had one, and re-encrypts every secret it can read for the new key only.
func (o *Owner) RecoverAgentRecipient(name, recipient string) error {
	rc, err := userRecipient(recipient)
	if err != nil {
		return err
	}
	changes, err := o.agentChanges(name)
	if err != nil {
		return err
	}
	if rc == o.Root.Agents[name].Recipient {
		return newErr(KindUsage, "agent %s already has recipient %s; recovery needs a new key", name, rc)
	}
	if err := o.checkRecipientFree(name, rc); err != nil {
		return err
	}
	t := o.begin("recover agent " + name + " with a new key of its own")
	setAgentRecipient(t, name, rc)
	if err := o.rewrite(t, changes); err != nil {
		return err
	}
	return o.finish(t)
}

// setAgentRecipient records in t that agent name has recipient rc and no escrow.
func setAgentRecipient(t *tx, name, rc string) {
	pub := []byte(rc + "\n")
	t.write(agentPubFile(name), pub)
	t.remove(escrowFile(name))
	t.root.Agents[name] = RootAgent{Recipient: rc, PublicKeySHA256: Hash(pub), EscrowSHA256: ""}
}
