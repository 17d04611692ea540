(module
  (memory (export "memory") 4)
  ;; Writes bytes [0, len) at out as the contents of a JSON string, each '\n' as '\' 'n'. Returns the
  ;; end of what it wrote, or -1 at the first byte that is neither '\n' nor printable ASCII other than
  ;; '"' and '\'. It reads up to 16 bytes past len and writes up to 16 bytes past the end it returns.
  (func (export "escape") (param $len i32) (param $out i32) (result i32)
    (local $i i32) (local $v v128) (local $newlines i32) (local $at i32) (local $end i32) (local $b i32)
    (block $tail
      (loop $blocks
        (br_if $tail (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $len)))
        (local.set $v (v128.load (local.get $i)))
        (if (v128.any_true
              (v128.or
                (v128.andnot
                  (i8x16.lt_s (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
                  (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10)))
                (v128.or
                  (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))
                  (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92)))))
          (then (return (i32.const -1))))
        (local.set $newlines
          (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))))
        (v128.store (local.get $out) (local.get $v))
        (if (i32.eqz (local.get $newlines))
          (then (local.set $out (i32.add (local.get $out) (i32.const 16))))
          (else
            (if (i32.eq (i32.popcnt (local.get $newlines)) (i32.const 1))
              (then
                ;; One newline at $at: the block as it is, then from the newline on again one byte later.
                (local.set $at (i32.ctz (local.get $newlines)))
                (v128.store (i32.add (i32.add (local.get $out) (local.get $at)) (i32.const 1))
                  (v128.load (i32.add (local.get $i) (local.get $at))))
                (i32.store16 (i32.add (local.get $out) (local.get $at)) (i32.const 0x6e5c))
                (local.set $out (i32.add (local.get $out) (i32.const 17))))
              (else
                (local.set $end (i32.add (local.get $i) (i32.const 16)))
                (local.set $at (local.get $i))
                (loop $bytes
                  (local.set $b (i32.load8_u (local.get $at)))
                  (if (i32.eq (local.get $b) (i32.const 10))
                    (then
                      (i32.store16 (local.get $out) (i32.const 0x6e5c))
                      (local.set $out (i32.add (local.get $out) (i32.const 2))))
                    (else
                      (i32.store8 (local.get $out) (local.get $b))
                      (local.set $out (i32.add (local.get $out) (i32.const 1)))))
                  (local.set $at (i32.add (local.get $at) (i32.const 1)))
                  (br_if $bytes (i32.lt_u (local.get $at) (local.get $end))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $blocks)))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $b (i32.load8_u (local.get $i)))
        (if (i32.eq (local.get $b) (i32.const 10))
          (then
            (i32.store16 (local.get $out) (i32.const 0x6e5c))
            (local.set $out (i32.add (local.get $out) (i32.const 2))))
          (else
            (if (i32.or
                  (i32.or (i32.lt_u (local.get $b) (i32.const 32)) (i32.ge_u (local.get $b) (i32.const 128)))
                  (i32.or (i32.eq (local.get $b) (i32.const 34)) (i32.eq (local.get $b) (i32.const 92))))
              (then (return (i32.const -1))))
            (i32.store8 (local.get $out) (local.get $b))
            (local.set $out (i32.add (local.get $out) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (local.get $out)))
