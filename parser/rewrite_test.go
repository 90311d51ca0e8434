package parser

import (
	"reflect"
	"strings"
	"testing"
)

func TestRewriteBase(t *testing.T) {
	tests := []struct {
		name, src, target, want, err string
	}{
		{"single", "FROM alpine:3\nRUN x\n", "", "FROM debian:12\nRUN x\n", ""},
		{"chain", "FROM alpine AS base\nRUN a\nFROM golang AS build\nRUN b\nfrom base\nRUN c\n", "",
			"FROM debian:12 AS base\nRUN a\nFROM golang AS build\nRUN b\nfrom base\nRUN c\n", ""},
		{"target", "FROM alpine AS a\nFROM busybox AS b\nFROM a\n", "b", "FROM alpine AS a\nFROM debian:12 AS b\nFROM a\n", ""},
		{"platform flag", "FROM --platform=$BUILDPLATFORM alpine\n", "", "FROM --platform=$BUILDPLATFORM debian:12\n", ""},
		{"arg", "ARG BASE=alpine\nFROM $BASE\n", "", "ARG BASE=alpine\nFROM debian:12\n", ""},
		{"missing target", "FROM alpine\n", "nope", "", "target stage \"nope\" not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RewriteBase("Dockerfile", []byte(tt.src), tt.target, "debian:12")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTargetChain(t *testing.T) {
	src := "FROM alpine AS base\nFROM base AS mid\nFROM golang AS other\nFROM mid\nFROM 1\n"
	df, err := Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   []int
	}{
		{"", []int{4, 1, 0}}, // FROM 1 is stage 1 (mid) by index
		{"mid", []int{1, 0}},
		{"other", []int{2}},
		{"3", []int{3, 1, 0}},
	}
	for _, tt := range tests {
		got, err := df.TargetChain(tt.target)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("TargetChain(%q) = %v, %v; want %v", tt.target, got, err, tt.want)
		}
	}
	if _, err := df.TargetChain("nope"); err == nil {
		t.Error("unknown target accepted")
	}
	for _, c := range []struct {
		name   string
		before int
		want   int
		ok     bool
	}{{"base", 1, 0, true}, {"BASE", 1, 0, true}, {"mid", 1, 0, false}, {"0", 2, 0, true}, {"alpine", 4, 0, false}, {"4", 4, 0, false}} {
		if got, ok := df.StageRef(c.name, c.before); got != c.want || ok != c.ok {
			t.Errorf("StageRef(%q, %d) = %d, %v; want %d, %v", c.name, c.before, got, ok, c.want, c.ok)
		}
	}
}

func TestLocationText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Location
	}{
		{"Dockerfile:7", Location{File: "Dockerfile", Start: 7, End: 7}},
		{"Dockerfile:7-9", Location{File: "Dockerfile", Start: 7, End: 9}},
		{"Dockerfile", Location{File: "Dockerfile"}},
		{"c:/x/Dockerfile:3", Location{File: "c:/x/Dockerfile", Start: 3, End: 3}},
		{"odd:name", Location{File: "odd:name"}},
		{"f:9-2", Location{File: "f:9-2"}},
	} {
		var got Location
		if err := got.UnmarshalText([]byte(c.in)); err != nil || got != c.want {
			t.Errorf("UnmarshalText(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if b, _ := c.want.MarshalText(); c.want.Start > 0 && string(b) != c.in {
			t.Errorf("MarshalText(%+v) = %q, want %q", c.want, b, c.in)
		}
	}
}
