package main

import (
	"fmt"
	"strings"
	"time"
)

const labelWidth = 66

func row(label string, cells ...string) {
	fmt.Printf("  %-*s", labelWidth, label)
	for _, c := range cells {
		fmt.Printf(" %11s", c)
	}
	fmt.Println()
}

func header(title string, cols ...string) {
	fmt.Printf("%-*s", labelWidth+2, title)
	for _, c := range cols {
		fmt.Printf(" %11s", c)
	}
	fmt.Println()
}

func failed(label string, err error) {
	fmt.Printf("  %-*s failed: %s\n", labelWidth, label, firstLine(err.Error()))
}

func errOf(r *result) error {
	if r == nil {
		return fmt.Errorf("not run")
	}
	if r.err != nil {
		return r.err
	}
	return fmt.Errorf("no timed run")
}

func withCommas(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func setupNote(name string, err error, d time.Duration, cached bool) string {
	switch {
	case err != nil:
		return fmt.Sprintf("%s could not be built (%s)", name, firstLine(err.Error()))
	case cached:
		return fmt.Sprintf("%s built in %s (copied from the cache)", name, fmtDur(d))
	}
	return fmt.Sprintf("%s built in %s", name, fmtDur(d))
}

func printSize(c config, r *sizeResult, haveOrig bool) {
	n := r.n
	fmt.Printf("==== %s secrets in one group ====\n", withCommas(n))
	notes := []string{setupNote("agent-vault's vault", r.oursErr, r.oursSetup, r.oursCached)}
	if haveOrig {
		notes = append(notes, setupNote("the original's", r.origErr, r.origSetup, r.origCached))
	}
	fmt.Printf("vaults: %s\n", strings.Join(notes, "; "))
	fmt.Printf("(agent-vault's built with one import; the original's with one set per secret)\n\n")

	// get
	runs := c.runs
	header(fmt.Sprintf("get one secret with an agent key (median of %d interleaved runs)", runs), "median", "x age -d", "x original")
	var tAge, tOrig time.Duration
	if r.age.ok() {
		tAge = r.age.median()
		row("age -d -i KEY FILE (stock age CLI, the same ciphertext)", fmtDur(tAge), "1.00x")
	} else if r.age != nil {
		failed("age -d -i KEY FILE", errOf(r.age))
	}
	if r.origGet.ok() {
		tOrig = r.origGet.median()
	}
	if r.get.ok() {
		t := r.get.median()
		row("agent-vault get --no-pull --key KEY", fmtDur(t), fmtRatio(ratio(t, tAge)), fmtRatio(ratio(t, tOrig)))
	} else if r.get != nil {
		failed("agent-vault get --no-pull --key KEY", errOf(r.get))
	}
	if r.origGet.ok() {
		row("original agent-vault get --key KEY", fmtDur(tOrig), fmtRatio(ratio(tOrig, tAge)), "1.00x")
	} else if r.origGet != nil {
		failed("original agent-vault get --key KEY", errOf(r.origGet))
	}
	if g := getOnlyResults[n]; g.ok() {
		row("  the read path alone (bench/getonly: vault package only)", fmtDur(g.median()), fmtRatio(ratio(g.median(), tAge)))
	} else if g != nil {
		failed("  the read path alone (bench/getonly)", errOf(g))
	}
	fmt.Println()

	// list
	listRuns := 0
	for _, x := range []*result{r.list, r.origList} {
		if x.ok() {
			listRuns = len(x.times)
		}
	}
	header(fmt.Sprintf("list with an agent key (median of %d interleaved runs)", listRuns), "median", "x original")
	tOrig = 0
	if r.origList.ok() {
		tOrig = r.origList.median()
	}
	if r.list.ok() {
		row("agent-vault list --no-pull --key KEY", fmtDur(r.list.median()), fmtRatio(ratio(r.list.median(), tOrig)))
	} else if r.list != nil {
		failed("agent-vault list --no-pull --key KEY", errOf(r.list))
	}
	if r.origList.ok() {
		row("original agent-vault list (reads every .meta; has no key option)", fmtDur(tOrig), "1.00x")
	} else if r.origList != nil {
		failed("original agent-vault list", errOf(r.origList))
	}
	fmt.Println()

	// set
	header(fmt.Sprintf("set one new secret, owner key, with its Git commit (median of %d)", c.setRuns), "median", "x original")
	tOrig = 0
	if r.origSet.ok() {
		tOrig = r.origSet.median()
	}
	if r.set.ok() {
		row("agent-vault set PATH (value on standard input)", fmtDur(r.set.median()), fmtRatio(ratio(r.set.median(), tOrig)))
	} else if r.set != nil {
		failed("agent-vault set PATH", errOf(r.set))
	}
	if r.origSet.ok() {
		row("original agent-vault set PATH VALUE", fmtDur(tOrig), "1.00x")
	} else if r.origSet != nil {
		failed("original agent-vault set PATH VALUE", errOf(r.origSet))
	}
	fmt.Println()

	// grant and revoke
	pairs := 0
	if cr := r.change["ours grant"]; cr.ok() {
		pairs = len(cr.times)
	} else if cr := r.change["original grant"]; cr.ok() {
		pairs = len(cr.times)
	}
	header(fmt.Sprintf("grant / revoke one agent on the %s-secret group (median of %d)", withCommas(n), pairs), "median", "x original", "x floor", "peak RSS", "loose objs")
	for _, op := range []string{"grant", "revoke"} {
		var floor time.Duration
		if r.floorErr == nil {
			floor = map[string]time.Duration{"grant": r.floor.grant, "revoke": r.floor.revoke}[op]
		}
		o, g := r.change["ours "+op], r.change["original "+op]
		var tO time.Duration
		if g.ok() {
			tO = medianDur(g.times)
		}
		if o.ok() {
			t := medianDur(o.times)
			row("agent-vault "+op+" AGENT GROUP", fmtDur(t), fmtRatio(ratio(t, tO)), fmtRatio(ratio(t, floor)), fmtMiB(maxInt64(o.rss)), fmt.Sprint(medianInt(o.loose)))
		} else if o != nil {
			failed("agent-vault "+op, o.err)
		}
		if g.ok() {
			row("original agent-vault "+op+" AGENT GROUP", fmtDur(tO), "1.00x", fmtRatio(ratio(tO, floor)), fmtMiB(maxInt64(g.rss)), fmt.Sprint(medianInt(g.loose)))
		} else if g != nil {
			failed("original agent-vault "+op, g.err)
		}
		what := "unwrap, wrap to 1, header MAC"
		if op == "revoke" {
			what = "unwrap, header MAC"
		}
		if r.floorErr != nil {
			failed("crypto-only floor", r.floorErr)
		} else {
			row(fmt.Sprintf("crypto-only floor: %s, per file (%d cores)", what, r.floor.workers), fmtDur(floor), "", "1.00x")
		}
	}
	if r.imp != nil {
		header(fmt.Sprintf("import the %s secrets from one dotenv file into a new vault (median of %d)", withCommas(n), len(r.imp.times)), "median", "", "x floor", "peak RSS", "loose objs")
		if r.imp.ok() {
			t := medianDur(r.imp.times)
			row("agent-vault import FILE --prefix GROUP/", fmtDur(t), "", fmtRatio(ratio(t, r.floor.importEnc)), fmtMiB(maxInt64(r.imp.rss)), fmt.Sprint(medianInt(r.imp.loose)))
		} else {
			failed("agent-vault import", r.imp.err)
		}
		if r.floorErr == nil {
			row(fmt.Sprintf("crypto-only floor: encrypt each value to the owner (%d cores)", r.floor.workers), fmtDur(r.floor.importEnc), "", "1.00x")
		}
		fmt.Println("  (the original agent-vault has no import)")
	}
	fmt.Println("  (peak RSS: the largest process of the command's tree, git included; loose objects: what the change")
	fmt.Println("  left in .git/objects, from git count-objects, with automatic gc off; floor: the age work alone,")
	fmt.Println("  in memory with filippo.io/age, no files, no signatures, no Git)")
	fmt.Println()
}

func maxInt64(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// printTargets checks the targets at the largest size measured (they are stated at 10,000 secrets)
// against the smallest; a miss is reported, never fatal.
// printPaired prints the paired measurement of get and set at two sizes.
func printPaired(p *pairedSizes) {
	fmt.Printf("==== get and set at %s and %s secrets, paired (the same rounds) ====\n", withCommas(p.small), withCommas(p.large))
	fmt.Printf("  %-66s %10s %10s\n", "", withCommas(p.small), withCommas(p.large))
	for _, r := range []struct {
		label        string
		small, large *result
	}{{"agent-vault get --no-pull --key KEY", p.getSmall, p.getLarge}, {"agent-vault set PATH (a new secret)", p.setSmall, p.setLarge}} {
		switch {
		case !r.small.ok():
			failed(r.label, errOf(r.small))
		case !r.large.ok():
			failed(r.label, errOf(r.large))
		default:
			fmt.Printf("  %-66s %10s %10s\n", r.label, fmtDur(r.small.median()), fmtDur(r.large.median()))
		}
	}
	fmt.Println()
}

func printTargets(results []*sizeResult, paired *pairedSizes, haveOrig bool) {
	if len(results) == 0 {
		return
	}
	S, L := results[0], results[len(results)-1]
	fmt.Printf("==== targets ====\n")
	fmt.Printf("A ratio is agent-vault's median divided by the reference's. The targets are stated at 10 and 10,000\n")
	fmt.Printf("secrets; here small = %s and large = %s secrets.\n", withCommas(S.n), withCommas(L.n))
	if L.n != 10000 {
		fmt.Printf("(large is not 10,000: the checks against the large size are indicative only)\n")
	}
	noOrig := "original agent-vault not installed (scripts/install-original.sh)"
	check := func(name string, value float64, limit float64, unit string, detail string, missing string) {
		switch {
		case missing != "":
			fmt.Printf("  n/a   %-52s %s\n", name, missing)
		case value <= limit:
			fmt.Printf("  PASS  %-52s %s%s\n", name, fmtValue(value, unit), detail)
		default:
			fmt.Printf("  MISS  %-52s %s%s\n", name, fmtValue(value, unit), detail)
		}
	}
	why := func(rs ...*result) string {
		for _, r := range rs {
			if !r.ok() {
				return "not measured (" + firstLine(errOf(r).Error()) + ")"
			}
		}
		return ""
	}
	origWhy := func(rs ...*result) string {
		if !haveOrig {
			return noOrig
		}
		return why(rs...)
	}
	for _, r := range results {
		name := fmt.Sprintf("get <= 1.15x age -d, at %s", withCommas(r.n))
		if m := why(r.get, r.age); m != "" {
			check(name, 0, 0, "x", "", m)
		} else {
			check(name, ratio(r.get.median(), r.age.median()), 1.15, "x", fmt.Sprintf("  (%s vs %s)", fmtDur(r.get.median()), fmtDur(r.age.median())), "")
		}
	}
	// Two sizes are compared on the paired measurement when there is one.
	getS, getL, setS, setL := S.get, L.get, S.set, L.set
	if paired != nil {
		getS, getL, setS, setL = paired.getSmall, paired.getLarge, paired.setSmall, paired.setLarge
	}
	if L != S {
		name := fmt.Sprintf("get at %s <= 1.2x get at %s", withCommas(L.n), withCommas(S.n))
		if m := why(getL, getS); m != "" {
			check(name, 0, 0, "x", "", m)
		} else {
			check(name, ratio(getL.median(), getS.median()), 1.2, "x", fmt.Sprintf("  (%s vs %s, paired)", fmtDur(getL.median()), fmtDur(getS.median())), "")
		}
	}
	name := fmt.Sprintf("list at %s <= 0.5x original's", withCommas(L.n))
	if m := origWhy(L.list, L.origList); m != "" {
		check(name, 0, 0, "x", "", m)
	} else {
		check(name, ratio(L.list.median(), L.origList.median()), 0.5, "x", fmt.Sprintf("  (%s vs %s)", fmtDur(L.list.median()), fmtDur(L.origList.median())), "")
	}
	if L != S {
		name = fmt.Sprintf("set at %s <= 1.5x set at %s", withCommas(L.n), withCommas(S.n))
		if m := why(setL, setS); m != "" {
			check(name, 0, 0, "x", "", m)
		} else {
			check(name, ratio(setL.median(), setS.median()), 1.5, "x", fmt.Sprintf("  (%s vs %s, paired)", fmtDur(setL.median()), fmtDur(setS.median())), "")
		}
	}
	name = fmt.Sprintf("set at %s <= 1.0x original's", withCommas(L.n))
	if m := origWhy(L.set, L.origSet); m != "" {
		check(name, 0, 0, "x", "", m)
	} else {
		check(name, ratio(L.set.median(), L.origSet.median()), 1.0, "x", fmt.Sprintf("  (%s vs %s)", fmtDur(L.set.median()), fmtDur(L.origSet.median())), "")
	}
	name = fmt.Sprintf("import of %s secrets <= 5 s", withCommas(L.n))
	switch {
	case L.imp == nil:
		check(name, 0, 0, "", "", "not measured")
	case !L.imp.ok():
		check(name, 0, 0, "", "", "not measured ("+firstLine(L.imp.err.Error())+")")
	default:
		check(name, medianDur(L.imp.times).Seconds(), 5, " s", "", "")
	}
	for _, op := range []string{"grant", "revoke"} {
		o, g := L.change["ours "+op], L.change["original "+op]
		oWhy := ""
		if !o.ok() {
			oWhy = "not measured"
			if o != nil && o.err != nil {
				oWhy += " (" + firstLine(o.err.Error()) + ")"
			}
		}
		name = fmt.Sprintf("%s at %s <= 0.2x original's", op, withCommas(L.n))
		switch {
		case oWhy != "":
			check(name, 0, 0, "x", "", oWhy)
		case !haveOrig:
			check(name, 0, 0, "x", "", noOrig)
		case !g.ok():
			check(name, 0, 0, "x", "", "original not measured")
		default:
			a, b := medianDur(o.times), medianDur(g.times)
			check(name, ratio(a, b), 0.2, "x", fmt.Sprintf("  (%s vs %s)", fmtDur(a), fmtDur(b)), "")
		}
		name = fmt.Sprintf("%s at %s: peak RSS <= 40 MiB", op, withCommas(L.n))
		if oWhy != "" {
			check(name, 0, 0, "", "", oWhy)
		} else {
			check(name, float64(maxInt64(o.rss))/1024, 40, " MiB", "", "")
		}
		name = fmt.Sprintf("%s at %s: loose objects written <= 200", op, withCommas(L.n))
		if oWhy != "" {
			check(name, 0, 0, "", "", oWhy)
		} else {
			check(name, float64(medianInt(o.loose)), 200, "", "", "")
		}
	}
}

func fmtValue(v float64, unit string) string {
	switch unit {
	case "x":
		return fmtRatio(v)
	case " MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case " s":
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.0f", v)
}
