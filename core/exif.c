/* exif.c: a bounds-checked walk over JPEG marker segments and the EXIF
 * orientation tag.
 *
 * TurboJPEG decodes pixels but tells us nothing about metadata, so we read
 * three things ourselves: the EXIF orientation (APP1 "Exif\0\0" TIFF, IFD0
 * tag 0x0112), whether an Adobe APP14 segment is present (Adobe CMYK is
 * stored inverted), and whether the stream reaches its EOI marker (how we
 * tell a truncated file from a merely sloppy one).  Everything here reads
 * attacker-controlled bytes: every offset is checked against the buffer
 * before use, every loop advances, and anything malformed simply ends the
 * walk with the defaults (metadata problems are never decode errors). */
#include "image.h"

#include <string.h>

#define M_SOI 0xD8
#define M_EOI 0xD9
#define M_SOS 0xDA
#define M_APP1 0xE1
#define M_APP14 0xEE

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t rd16(const uint8_t *p, int le) {
    return le ? (uint16_t)(p[0] | p[1] << 8) : be16(p);
}

static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Markers without a length field: TEM and the restart markers (SOI and EOI
 * are handled by the callers). */
static int standalone(int m) { return m == 0x01 || (m >= 0xD0 && m <= 0xD7); }

/* Finds the next marker at or after *i the way libjpeg's next_marker() does:
 * garbage before an 0xFF is skipped, fill bytes (0xFF 0xFF ...) are skipped.
 * Returns the marker code with *i just past it, or -1 at the end of data. */
static int next_marker(const uint8_t *p, size_t n, size_t *i) {
    while (*i < n) {
        const uint8_t *ff = memchr(p + *i, 0xFF, n - *i);
        if (!ff) break;
        size_t j = (size_t)(ff - p) + 1;
        while (j < n && p[j] == 0xFF) j++;
        if (j >= n) break;
        *i = j + 1;
        if (p[j] != 0x00) return p[j];
        /* FF 00 is not a marker (only happens in garbage): keep looking */
    }
    *i = n;
    return -1;
}

/* Length-prefixed segment at *i (just past its marker): sets the payload
 * and moves *i past it.  0 when the length is invalid or runs past the end. */
static int segment(const uint8_t *p, size_t n, size_t *i, const uint8_t **pay, size_t *plen) {
    if (n - *i < 2) return 0;
    size_t len = be16(p + *i);
    if (len < 2 || len > n - *i) return 0;
    *pay = p + *i + 2;
    *plen = len - 2;
    *i += len;
    return 1;
}

int cam__exif_orientation(const uint8_t *t, size_t n) {
    if (!t || n < 8) return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 1;
    if (rd16(t + 2, le) != 42) return 1;
    /* IFD0 only: the tag lives there, so no offset chains are followed and
     * no IFD loop can exist.  The IFD must lie after the 8-byte header. */
    uint32_t ifd = rd32(t + 4, le);
    if (ifd < 8 || ifd > n - 2) return 1;
    size_t count = rd16(t + ifd, le);
    if (count > (n - ifd - 2) / 12) return 1;   /* directory runs past the block */
    for (size_t k = 0; k < count; k++) {
        const uint8_t *e = t + ifd + 2 + 12 * k;
        if (rd16(e, le) != 0x0112) continue;
        uint16_t type = rd16(e + 2, le);
        if (rd32(e + 4, le) != 1) return 1;
        /* SHORT per the standard; a few writers use LONG.  Both fit in the
         * 4-byte value field, so no offset to follow. */
        uint32_t v = type == 3 ? rd16(e + 8, le) : type == 4 ? rd32(e + 8, le) : 0;
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* Header segments up to the first SOS: EXIF and Adobe.  Returns the offset
 * just past the SOS segment header, or 0 when no scan was found. */
static size_t scan_header(const uint8_t *p, size_t n, cam__jpeg_markers *m) {
    size_t i = 2;
    int seen_exif = 0;
    for (;;) {
        int mk = next_marker(p, n, &i);
        if (mk < 0 || mk == M_EOI || mk == M_SOI) return 0;
        if (standalone(mk)) continue;
        const uint8_t *pay;
        size_t plen;
        if (!segment(p, n, &i, &pay, &plen)) return 0;
        if (mk == M_SOS) return i;
        /* The first EXIF block wins, as in browsers and exiftool. */
        if (mk == M_APP1 && !seen_exif && plen >= 6 && memcmp(pay, "Exif\0\0", 6) == 0) {
            seen_exif = 1;
            m->orientation = cam__exif_orientation(pay + 6, plen - 6);
        }
        /* Same test as libjpeg's examine_app14(): "Adobe", 12 bytes at least. */
        if (mk == M_APP14 && plen >= 12 && memcmp(pay, "Adobe", 5) == 0) {
            m->adobe = 1;
            m->adobe_transform = pay[11];
        }
    }
}

/* From inside entropy-coded data: 1 if an EOI marker is reached.  Stuffed
 * FF 00 and restart markers belong to the scan; other segments (the next
 * SOS, DHT, ... of a progressive file) are skipped by their lengths. */
static int reaches_eoi(const uint8_t *p, size_t n, size_t i) {
    for (;;) {
        int mk = next_marker(p, n, &i);
        if (mk < 0) return 0;
        if (mk == M_EOI) return 1;
        if (standalone(mk) || mk == M_SOI) continue;
        const uint8_t *pay;
        size_t plen;
        if (!segment(p, n, &i, &pay, &plen)) return 0;
    }
}

static void defaults(cam__jpeg_markers *m) {
    m->orientation = 1;
    m->adobe = 0;
    m->adobe_transform = -1;
}

static int is_jpeg(const uint8_t *p, size_t n) { return p && n >= 4 && p[0] == 0xFF && p[1] == M_SOI; }

void cam__jpeg_scan_markers(const uint8_t *p, size_t n, cam__jpeg_markers *m) {
    defaults(m);
    if (is_jpeg(p, n)) scan_header(p, n, m);
}

int cam__jpeg_has_eoi(const uint8_t *p, size_t n) {
    cam__jpeg_markers m;
    defaults(&m);
    size_t scan = is_jpeg(p, n) ? scan_header(p, n, &m) : 0;
    return scan ? reaches_eoi(p, n, scan) : 0;
}
