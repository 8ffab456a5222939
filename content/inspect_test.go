package content

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, testImage(w, h)))
	return b.Bytes()
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, testImage(w, h), nil))
	return b.Bytes()
}

// withEXIF puts an APP1 EXIF segment with an ImageDescription after a
// JPEG's SOI marker.
func withEXIF(jpg []byte, description string) []byte {
	desc := append([]byte(description), 0)
	var tiff bytes.Buffer
	tiff.WriteString("II*\x00")
	binary.Write(&tiff, binary.LittleEndian, uint32(8)) // IFD0 offset
	binary.Write(&tiff, binary.LittleEndian, uint16(1)) // one entry
	binary.Write(&tiff, binary.LittleEndian, uint16(0x010E))
	binary.Write(&tiff, binary.LittleEndian, uint16(2)) // ASCII
	binary.Write(&tiff, binary.LittleEndian, uint32(len(desc)))
	binary.Write(&tiff, binary.LittleEndian, uint32(8+2+12+4)) // value offset, after the IFD
	binary.Write(&tiff, binary.LittleEndian, uint32(0))        // no next IFD
	tiff.Write(desc)
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	var out bytes.Buffer
	out.Write(jpg[:2])
	out.Write([]byte{0xFF, 0xE1})
	binary.Write(&out, binary.BigEndian, uint16(len(seg)+2))
	out.Write(seg)
	out.Write(jpg[2:])
	return out.Bytes()
}

func TestInspect(t *testing.T) {
	t.Parallel()
	var gifBuf bytes.Buffer
	require.NoError(t, gif.Encode(&gifBuf, testImage(40, 20), nil))
	webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	require.NoError(t, err)
	pngBytes := encodePNG(t, 800, 400)
	for _, tc := range []struct {
		name      string
		data      []byte
		claimed   string
		mediaType string
		w, h      int
		thumb     [2]int
		desc      string
		refused   string
	}{
		{name: "png", data: pngBytes, mediaType: "image/png", w: 800, h: 400, thumb: [2]int{320, 160}},
		{name: "png claimed as image", data: pngBytes, claimed: "image", mediaType: "image/png", w: 800, h: 400, thumb: [2]int{320, 160}},
		{name: "png claimed as jpeg", data: pngBytes, claimed: "image/jpeg", refused: "not the image/jpeg claimed"},
		{name: "tall jpeg with exif", data: withEXIF(encodeJPEG(t, 100, 640), "Sunset at the lake"), mediaType: "image/jpeg",
			w: 100, h: 640, thumb: [2]int{50, 320}, desc: "Sunset at the lake"},
		{name: "small gif: its own thumbnail", data: gifBuf.Bytes(), mediaType: "image/gif", w: 40, h: 20},
		{name: "webp", data: webp, mediaType: "image/webp", w: 150, h: 100},
		{name: "html", data: []byte("<!DOCTYPE html><html><body>hello</body></html>"), refused: "text/html"},
		{name: "text", data: []byte("just words"), refused: "text/plain"},
		{name: "truncated png", data: pngBytes[:len(pngBytes)/2], refused: "do not decode"},
		{name: "png header only", data: pngBytes[:40], refused: "do not decode"},
		{name: "pdf", data: []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"), mediaType: "application/pdf"},
		{name: "pdf claimed as image", data: []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"), claimed: "image", refused: "not the image claimed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Inspect(tc.data, tc.claimed, "body.file")
			if tc.refused != "" {
				require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
				require.Equal(t, "body.file", err.(*parley.Error).Field)
				require.Contains(t, err.Error(), tc.refused)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mediaType, in.MediaType)
			require.Equal(t, [2]int{tc.w, tc.h}, [2]int{in.Width, in.Height})
			require.Equal(t, tc.desc, in.Description)
			if tc.thumb == [2]int{} {
				require.Nil(t, in.Thumbnail)
				return
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(in.Thumbnail))
			require.NoError(t, err)
			require.Equal(t, tc.thumb, [2]int{cfg.Width, cfg.Height})
			_, thumbType := Thumbnail("t", &parley.ContentItem{MediaType: tc.mediaType, Width: tc.w, Height: tc.h})
			require.Equal(t, thumbType, "image/"+format)
		})
	}
}

func TestInspectRefusesHugeImages(t *testing.T) {
	t.Parallel()
	// A PNG header that claims 100,000 × 100,000 pixels: refused before
	// anything is decoded.
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, testImage(1, 1)))
	data := b.Bytes()
	binary.BigEndian.PutUint32(data[16:], 100_000)
	binary.BigEndian.PutUint32(data[20:], 100_000)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29])) // IHDR's CRC
	_, err := Inspect(data, "", "body.image_url")
	require.Error(t, err)
	require.Contains(t, err.Error(), "pixels")
}

func FuzzInspect(f *testing.F) {
	f.Add(encodePNG(f, 3, 2))
	f.Add(encodeJPEG(f, 2, 3))
	f.Add([]byte("GIF89a"))
	f.Add([]byte("<html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Inspect(data, "", "body.file")
		if err != nil {
			require.NotEmpty(t, parley.ErrorCode(err))
			return
		}
		require.True(t, accepted[in.MediaType], in.MediaType)
	})
}
