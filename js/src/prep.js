// RFC 8120 §9 string preparation with the PRECIS profiles of RFC 7613:
// UsernameCasePreserved for user names, OpaqueString for passwords, the same
// steps as src/string_prep.c++ (which uses ICU).
//
// JavaScript has NFC/NFKC (String.prototype.normalize) and the general
// categories and binary properties (\p{...}), but no Bidi_Class, Joining_Type
// or Canonical_Combining_Class. The mappings (width, spaces, NFC) are exact;
// the checks differ from ICU's only where those properties are needed:
// CONTEXTJ (ZWNJ/ZWJ) is accepted only after a virama of the list below, and
// the Bidi Rule uses the script of a character as its direction. A string the
// C++ accepts and this code refuses (or the reverse) is only possible with
// such characters; the server prepares the name again and decides.

export class PrepError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

const MAX_INPUT = 65536;

// <wide> and <narrow> compatibility decompositions (UnicodeData.txt).
function isWidthChar(cp) {
  return cp === 0x3000 || (cp >= 0xff01 && cp <= 0xffee);
}

function mapWidth(text) {
  let out = '';
  for (const c of text) {
    const cp = c.codePointAt(0);
    out += isWidthChar(cp) ? c.normalize('NFKC') : c;
  }
  return out;
}

const re = (s) => new RegExp(s, 'u');
const UNASSIGNED = re('^\\p{Cn}$');
const NONCHARACTER = re('^\\p{Noncharacter_Code_Point}$');
const JOIN_CONTROL = re('^\\p{Join_Control}$');
const IGNORABLE = re('^\\p{Default_Ignorable_Code_Point}$');
const CONTROL = re('^\\p{Cc}$');
const PVALID_CATEGORY = re('^[\\p{Ll}\\p{Lu}\\p{Lo}\\p{Nd}\\p{Lm}\\p{Mn}\\p{Mc}]$');
const FREEFORM_CATEGORY = re('^[\\p{Lt}\\p{Nl}\\p{No}\\p{Me}\\p{Zs}\\p{Sm}\\p{Sc}\\p{Sk}\\p{So}' +
  '\\p{Pc}\\p{Pd}\\p{Ps}\\p{Pe}\\p{Pi}\\p{Pf}\\p{Po}]$');
const SPACE_SEPARATOR = re('^\\p{Zs}$');
const GREEK = re('^\\p{Script=Greek}$');
const HEBREW = re('^\\p{Script=Hebrew}$');
const KANA_HAN = re('^[\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Han}]$');
const RTL = re('^[\\p{Script=Hebrew}\\p{Script=Arabic}\\p{Script=Syriac}\\p{Script=Thaana}' +
  '\\p{Script=Nko}\\p{Script=Samaritan}\\p{Script=Mandaic}\\p{Script=Adlam}' +
  '\\p{Script=Hanifi_Rohingya}\\p{Script=Mende_Kikakui}]$');
const NSM = re('^[\\p{Mn}\\p{Me}]$');
const LETTER_OR_MARK = re('^[\\p{L}\\p{Mc}]$');
const VIRAMAS = new Set([0x094d, 0x09cd, 0x0a4d, 0x0acd, 0x0b4d, 0x0bcd, 0x0c4d, 0x0ccd, 0x0d3b,
  0x0d3c, 0x0d4d, 0x0dca, 0x0e3a, 0x0eba, 0x0f84, 0x1039, 0x103a, 0x1714, 0x1715, 0x1734, 0x17d2,
  0x1a60, 0x1b44, 0x1baa, 0x1bab, 0x1bf2, 0x1bf3, 0x2d7f, 0xa806, 0xa82c, 0xa8c4, 0xa953, 0xa9c0,
  0xaaf6, 0xabed]);

function hasCompat(c) {
  return c.normalize('NFKC') !== c;
}

// 'pvalid' | 'freeform' | 'contextj' | 'contexto' | 'disallowed' (RFC 8264 §8)
function derivedProperty(c) {
  const cp = c.codePointAt(0);
  if ([0x00df, 0x03c2, 0x06fd, 0x06fe, 0x0f0b, 0x3007].includes(cp)) return 'pvalid';
  if ([0x00b7, 0x0375, 0x05f3, 0x05f4, 0x30fb].includes(cp)) return 'contexto';
  if ([0x0640, 0x07fa, 0x302e, 0x302f, 0x303b].includes(cp)) return 'disallowed';
  if ((cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06f0 && cp <= 0x06f9)) return 'contexto';
  if (cp >= 0x3031 && cp <= 0x3035) return 'disallowed';
  const noncharacter = NONCHARACTER.test(c);
  if (UNASSIGNED.test(c) && !noncharacter) return 'disallowed';
  if (cp >= 0x21 && cp <= 0x7e) return 'pvalid';
  if (JOIN_CONTROL.test(c)) return 'contextj';
  if ((cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0xa960 && cp <= 0xa97f) ||
      (cp >= 0xd7b0 && cp <= 0xd7ff)) return 'disallowed'; // OldHangulJamo
  if (noncharacter || IGNORABLE.test(c)) return 'disallowed';
  if (CONTROL.test(c)) return 'disallowed';
  if (hasCompat(c)) return 'freeform';
  if (PVALID_CATEGORY.test(c)) return 'pvalid';
  if (FREEFORM_CATEGORY.test(c)) return 'freeform';
  return 'disallowed';
}

function contextAllows(chars, i) {
  const cp = chars[i].codePointAt(0);
  const before = i > 0 ? chars[i - 1] : undefined;
  const after = i + 1 < chars.length ? chars[i + 1] : undefined;
  switch (cp) {
    case 0x200c:
    case 0x200d:
      return before !== undefined && VIRAMAS.has(before.codePointAt(0));
    case 0x00b7:
      return before === 'l' && after === 'l';
    case 0x0375:
      return after !== undefined && GREEK.test(after);
    case 0x05f3:
    case 0x05f4:
      return before !== undefined && HEBREW.test(before);
    case 0x30fb:
      return chars.some((o) => KANA_HAN.test(o));
    default:
      break;
  }
  const has = (lo, hi) => chars.some((o) => o.codePointAt(0) >= lo && o.codePointAt(0) <= hi);
  if (cp >= 0x0660 && cp <= 0x0669) return !has(0x06f0, 0x06f9);
  if (cp >= 0x06f0 && cp <= 0x06f9) return !has(0x0660, 0x0669);
  return false;
}

function conforms(chars, freeform) {
  for (let i = 0; i < chars.length; ++i) {
    switch (derivedProperty(chars[i])) {
      case 'pvalid':
        break;
      case 'freeform':
        if (!freeform) return false;
        break;
      case 'contextj':
      case 'contexto':
        if (!contextAllows(chars, i)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

// Direction classes approximated from scripts and categories.
function direction(c) {
  const cp = c.codePointAt(0);
  if ((cp >= 0x0660 && cp <= 0x0669) || cp === 0x066b || cp === 0x066c) return 'AN';
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x06f0 && cp <= 0x06f9)) return 'EN';
  if (NSM.test(c)) return 'NSM';
  if (RTL.test(c)) return 'R';
  if (LETTER_OR_MARK.test(c)) return 'L';
  return 'ON';
}

function satisfiesBidiRule(chars) {
  if (chars.length === 0) return false;
  const first = direction(chars[0]);
  const rtl = first === 'R';
  if (!rtl && first !== 'L') return false;
  let hasEn = false;
  let hasAn = false;
  for (const c of chars) {
    const d = direction(c);
    if (d === 'EN') hasEn = true;
    if (d === 'AN') hasAn = true;
    const common = d === 'EN' || d === 'ON' || d === 'NSM';
    if (!(rtl ? common || d === 'R' || d === 'AN' : common || d === 'L')) return false;
  }
  if (rtl && hasEn && hasAn) return false;
  let end = chars.length;
  while (end > 0 && direction(chars[end - 1]) === 'NSM') --end;
  if (end === 0) return false;
  const last = direction(chars[end - 1]);
  return rtl ? last === 'R' || last === 'EN' || last === 'AN' : last === 'L' || last === 'EN';
}

function checkInput(text) {
  // A lone surrogate is what ill-formed UTF-8 becomes in a JavaScript string.
  if (typeof text !== 'string' || text.length > MAX_INPUT || /\p{Cs}/u.test(text))
    throw new PrepError('invalid_utf8');
}

// UsernameCasePreserved: width mapping, NFC, IdentifierClass per userpart,
// Bidi Rule when any part has a right-to-left character.
export function prepareUsername(input) {
  checkInput(input);
  const text = mapWidth(input).normalize('NFC');
  if (text === '') throw new PrepError('empty');
  if (text.startsWith(' ') || text.endsWith(' ')) throw new PrepError('disallowed_char');
  const parts = text.split(/ +/).map((p) => [...p]);
  let hasRtl = false;
  for (const part of parts) {
    if (!conforms(part, false)) throw new PrepError('disallowed_char');
    if (part.some((c) => ['R', 'AN'].includes(direction(c)))) hasRtl = true;
  }
  if (hasRtl && !parts.every(satisfiesBidiRule)) throw new PrepError('bidi_rule');
  return text;
}

// OpaqueString: non-ASCII spaces to U+0020, NFC, FreeformClass.
export function preparePassword(input) {
  checkInput(input);
  let mapped = '';
  for (const c of input) mapped += SPACE_SEPARATOR.test(c) ? ' ' : c;
  const text = mapped.normalize('NFC');
  if (text === '') throw new PrepError('empty');
  if (!conforms([...text], true)) throw new PrepError('disallowed_char');
  return text;
}
