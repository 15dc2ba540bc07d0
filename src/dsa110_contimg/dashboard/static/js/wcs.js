// The celestial coordinates of an image's pixels, from its record: a SIN
// (orthographic) projection about the image centre (ra_deg, dec_deg) with
// square cells of cell_arcsec, RA increasing to the left, north up, the
// reference pixel at (size / 2) counted from 0, as WSClean writes it
// (CRPIX = size / 2 + 1). Previews are rendered north up with the same
// orientation, so a fraction of the preview is that fraction of the image:
// fx = (x + 0.5) / size_x from the left, fy = 1 - (y + 0.5) / size_y from the top.

const RAD = Math.PI / 180;

export class ImageWcs {
  constructor(image) {
    this.ra0 = image.ra_deg * RAD;
    this.dec0 = image.dec_deg * RAD;
    this.cell = (image.cell_arcsec / 3600) * RAD;
    this.nx = image.size_x;
    this.ny = image.size_y;
    // the reference pixel's centre as fractions of the preview
    this.fx0 = 0.5 + 0.5 / this.nx;
    this.fy0 = 0.5 - 0.5 / this.ny;
  }

  /** RA and Dec (deg) at a fraction (fx right, fy down) of the preview, or null off the sky. */
  toSky(fx, fy) {
    const l = -(fx - this.fx0) * this.nx * this.cell;
    const m = (this.fy0 - fy) * this.ny * this.cell;
    const r2 = l * l + m * m;
    if (r2 >= 1) return null;
    const n = Math.sqrt(1 - r2);
    const dec = Math.asin(m * Math.cos(this.dec0) + n * Math.sin(this.dec0));
    const ra = this.ra0 + Math.atan2(l, n * Math.cos(this.dec0) - m * Math.sin(this.dec0));
    return { ra: (((ra / RAD) % 360) + 360) % 360, dec: dec / RAD };
  }

  /** The preview fractions (fx right, fy down) of a position (deg), or null behind the sky. */
  toFraction(raDeg, decDeg) {
    const ra = raDeg * RAD;
    const dec = decDeg * RAD;
    const dra = ra - this.ra0;
    const cosc = Math.sin(this.dec0) * Math.sin(dec) + Math.cos(this.dec0) * Math.cos(dec) * Math.cos(dra);
    if (cosc < 0) return null;
    const l = Math.cos(dec) * Math.sin(dra);
    const m = Math.sin(dec) * Math.cos(this.dec0) - Math.cos(dec) * Math.sin(this.dec0) * Math.cos(dra);
    return { fx: this.fx0 - l / (this.nx * this.cell), fy: this.fy0 - m / (this.ny * this.cell) };
  }

  /** Width and height on the sky (deg). */
  get extent() {
    return { width: (this.nx * this.cell) / RAD, height: (this.ny * this.cell) / RAD };
  }
}

/** An RA difference wrapped into (-180, 180] deg. */
export function wrapRa(delta) {
  return ((((delta + 180) % 360) + 360) % 360) - 180;
}
