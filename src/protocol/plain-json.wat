(module
  (memory (export "memory") 4)
  ;; 1 when every byte in [0, len) is printable ASCII other than '"' and '\', or '\n'; len is a multiple of 16.
  (func (export "plain") (param $len i32) (result i32)
    (local $i i32) (local $v v128) (local $bad v128)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $v (v128.load (local.get $i)))
        (local.set $bad
          (v128.or (local.get $bad)
            (v128.or
              (v128.andnot
                (i8x16.lt_s (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
                (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10)))
              (v128.or
                (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))
                (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (i32.eqz (v128.any_true (local.get $bad)))))
