package report

import (
	"cmp"
	"slices"
)

// maxExamples bounds WasteGroup.Examples.
const maxExamples = 5

// summarise groups waste items by kind, rule and layer, sets each layer's
// WasteBytes, and orders the groups largest first.
func summarise(items []wasteItem, layers []*Layer) Waste {
	type key struct {
		kind, rule string
		layer      int
	}
	groups := map[key]*WasteGroup{}
	paths := map[key][]wasteItem{}
	var w Waste
	for _, it := range items {
		k := key{it.kind, it.rule, it.layer}
		g := groups[k]
		if g == nil {
			g = &WasteGroup{Kind: it.kind, Rule: it.rule, Layer: it.layer}
			if it.layer < len(layers) {
				g.Step = layers[it.layer].CreatedBy
			}
			groups[k] = g
		}
		g.Bytes += it.size
		g.Files++
		paths[k] = append(paths[k], it)
		if it.kind == "rule" {
			w.Rules += it.size
		} else {
			w.Shadowed += it.size
		}
		if it.layer < len(layers) {
			layers[it.layer].WasteBytes += it.size
		}
	}
	w.Bytes = w.Shadowed + w.Rules
	w.Groups = []WasteGroup{}
	for k, g := range groups {
		ps := paths[k]
		slices.SortFunc(ps, func(a, b wasteItem) int {
			return cmp.Or(cmp.Compare(b.size, a.size), cmp.Compare(a.path, b.path))
		})
		g.Examples = []string{}
		for i := 0; i < len(ps) && i < maxExamples; i++ {
			g.Examples = append(g.Examples, ps[i].path)
		}
		w.Groups = append(w.Groups, *g)
	}
	slices.SortFunc(w.Groups, func(a, b WasteGroup) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Layer, b.Layer),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Rule, b.Rule))
	})
	return w
}
