// Package content is the bots' content library: media fetched from URLs
// (through the egress guard) or uploaded, checked by their bytes, stored
// once per tenant by SHA-256 in a blob store, described and searchable.
package content

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // registers GIF with image.Decode
	"image/jpeg"
	"image/png"
	"strings"

	"github.com/gabriel-vasile/mimetype"
	"github.com/rwcarlsen/goexif/exif"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers WebP with image.Decode

	"github.com/parley-chat/parley"
)

// Media types the library takes, by what their bytes are. Images are
// decoded in full (a file that only starts like a PNG is refused); the
// others are taken by their signature.
var accepted = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"video/mp4": true, "video/webm": true, "video/quicktime": true,
	"audio/mpeg": true, "audio/ogg": true, "audio/wav": true, "audio/mp4": true, "audio/x-m4a": true,
	"application/pdf": true,
}

// decodable are the accepted images Parley decodes.
var decodable = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// Limits of inspection.
const (
	ThumbnailSize = 320        // the longer side of a thumbnail, in pixels
	MaxPixels     = 50_000_000 // an image decoded in full: width × height
)

// Inspected is what the bytes say.
type Inspected struct {
	MediaType     string
	Width, Height int
	Description   string // EXIF ImageDescription, if any
	Thumbnail     []byte // JPEG or PNG; nil when not an image or when it fits (Fits)
	ThumbnailType string
}

// Inspect detects what data is from its bytes and checks it: field names
// the request field a refusal is about. claimed, if given, is the media
// type the uploader says it is: a top-level type ("image") or a full one,
// which the bytes must match.
func Inspect(data []byte, claimed, field string) (*Inspected, error) {
	mt := mimetype.Detect(data)
	kind := mt.String()
	if i := strings.IndexByte(kind, ';'); i >= 0 {
		kind = kind[:i]
	}
	if !accepted[kind] {
		return nil, parley.FieldError(parley.EINVALID, field, "the bytes are %s, not media the library takes (images, video, audio, PDF)", kind)
	}
	if claimed != "" && kind != claimed && !strings.HasPrefix(kind, claimed+"/") {
		return nil, parley.FieldError(parley.EINVALID, field, "the bytes are %s, not the %s claimed", kind, claimed)
	}
	out := &Inspected{MediaType: kind}
	if !decodable[kind] {
		return out, nil
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, parley.FieldError(parley.EINVALID, field, "the bytes start as %s but do not decode: %v", kind, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return nil, parley.FieldError(parley.EINVALID, field, "a %d×%d image: at most %d pixels", cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, parley.FieldError(parley.EINVALID, field, "the bytes start as %s but do not decode: %v", kind, err)
	}
	out.Width, out.Height = cfg.Width, cfg.Height
	if kind == "image/jpeg" {
		out.Description = exifDescription(data)
	}
	if Fits(cfg.Width, cfg.Height) {
		return out, nil // its own thumbnail
	}
	out.Thumbnail, out.ThumbnailType, err = thumbnail(img, kind)
	if err != nil {
		return nil, fmt.Errorf("content: thumbnail: %w", err)
	}
	return out, nil
}

// Fits says whether an image is small enough to be its own thumbnail.
func Fits(width, height int) bool { return width <= ThumbnailSize && height <= ThumbnailSize }

// exifDescription is a JPEG's EXIF ImageDescription, "" if none.
func exifDescription(data []byte) string {
	x, err := exif.Decode(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	tag, err := x.Get(exif.ImageDescription)
	if err != nil {
		return ""
	}
	s, err := tag.StringVal()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimRight(s, "\x00"))
}

// thumbnail scales an image to fit ThumbnailSize: a JPEG stays a JPEG,
// the others (which may be transparent) become PNG. A GIF's first frame.
func thumbnail(img image.Image, kind string) ([]byte, string, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > ThumbnailSize || h > ThumbnailSize {
		if w >= h {
			w, h = ThumbnailSize, max(1, h*ThumbnailSize/w)
		} else {
			w, h = max(1, w*ThumbnailSize/h), ThumbnailSize
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	var buf bytes.Buffer
	if kind == "image/jpeg" {
		if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), "image/jpeg", nil
	}
	if err := png.Encode(&buf, dst); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "image/png", nil
}
