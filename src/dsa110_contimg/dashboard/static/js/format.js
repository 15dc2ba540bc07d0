// Number, time and coordinate formats shared by the pages.

const DASH = "—";

export function num(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return DASH;
  if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
}

export function fixed(x, digits) {
  return x === null || x === undefined ? DASH : x.toFixed(digits);
}

/** A flux density in Jy shown in mJy. */
export function mjy(jy, digits = 4) {
  return jy === null || jy === undefined ? DASH : `${num(jy * 1e3, digits)} mJy`;
}

export function mjd(x) {
  return fixed(x, 5);
}

/** The UTC date and time of an MJD. */
export function mjdToIso(x) {
  if (x === null || x === undefined) return DASH;
  const date = new Date((x - 40587) * 86400e3);
  return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

/** An ISO 8601 time from the API, shown as UTC to the second. */
export function time(text) {
  if (!text) return DASH;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

export function seconds(s) {
  if (s === null || s === undefined) return DASH;
  return s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

export function bytes(n) {
  if (n === null || n === undefined) return DASH;
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${num(n, 3)} ${units[i]}`;
}

export function percent(fraction) {
  return fraction === null || fraction === undefined ? DASH : `${(fraction * 100).toFixed(1)}%`;
}

function sexagesimal(value, width) {
  // Round to 0.1 of the last unit first, so 59.96 never shows as 60.0.
  const tenths = Math.round(Math.abs(value) * 36000);
  const pad = (n, w) => String(n).padStart(w, "0");
  const a = Math.floor(tenths / 36000);
  const b = Math.floor((tenths % 36000) / 600);
  const c = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return [(value < 0 ? "-" : "") + pad(a, width), pad(b, 2), c];
}

/** Right ascension (deg) as hours:minutes:seconds. */
export function ra(deg) {
  if (deg === null || deg === undefined) return DASH;
  const [hh, mm, ss] = sexagesimal((((deg % 360) + 360) % 360) / 15, 2);
  return `${hh === "24" ? "00" : hh}h${mm}m${ss}s`;
}

/** Declination (deg) as degrees:arcminutes:arcseconds. */
export function dec(deg) {
  if (deg === null || deg === undefined) return DASH;
  const [dd, mm, ss] = sexagesimal(deg, 2);
  return `${deg >= 0 ? "+" : ""}${dd}°${mm}′${ss}″`;
}

/** A position as "RA Dec (ra°, dec°)". */
export function position(raDeg, decDeg) {
  if (raDeg === null || raDeg === undefined) return DASH;
  return `${ra(raDeg)} ${dec(decDeg)} (${raDeg.toFixed(4)}°, ${decDeg.toFixed(4)}°)`;
}

/** A JSON value (parameters, QA metrics) as indented text. */
export function json(value) {
  return value === null || value === undefined ? DASH : JSON.stringify(value, null, 2);
}
