// Package render decodes pictures and makes their variants with libvips:
// the image kind's work as kiln-image-worker does it, one request at a
// time from the daemon (Serve). It is the only package of kiln that links
// libvips (through package vips); the daemon links package image, which
// speaks to this one's processes and never to libvips.
package render
